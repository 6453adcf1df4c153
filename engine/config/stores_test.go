package config

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// workloadIdentityEnv sets what the Azure workload identity webhook
// injects into ratify's pod, which the guide's Store needs to load.
func workloadIdentityEnv(t *testing.T) {
	t.Helper()
	t.Setenv(oras.EnvAzureTenantID, "72f988bf-86f1-41af-91ab-2d7cd011db47")
	t.Setenv(oras.EnvAzureFederatedTokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
	t.Setenv(oras.EnvAzureAuthorityHost, "https://login.microsoftonline.com/")
	t.Setenv(oras.EnvAzureClientID, "")
}

func storeOf(params string) v1beta1.Store {
	s := v1beta1.Store{Spec: v1beta1.StoreSpec{Name: "oras", Parameters: runtime.RawExtension{Raw: []byte(params)}}}
	s.Name = "store-oras"
	return s
}

// The guide's Store in a pod without the workload identity environment
// is a configuration error naming the variable (what the Store's status
// shows, through engine.CheckStore); with it, it loads.
func TestStoreConfigAzureEnvironment(t *testing.T) {
	workloadIdentityEnv(t)
	guide := storeOf(`{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "00000000-0000-0000-0000-000000000000"}, "cosignEnabled": true}`)
	cfg, err := StoreConfig(guide)
	if err != nil || cfg.Auth == nil || cfg.Provider == nil || !cfg.CosignEnabled {
		t.Fatalf("guide store: %+v, %v", cfg, err)
	}
	for _, v := range []string{oras.EnvAzureTenantID, oras.EnvAzureFederatedTokenFile, oras.EnvAzureAuthorityHost} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(v, "")
			_, err := StoreConfig(guide)
			if !errors.Is(err, oras.ErrMissingEnv) || !strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), `store "store-oras"`) {
				t.Errorf("without %s: %v", v, err)
			}
		})
	}
	if _, err := StoreConfig(storeOf(`{"authProvider": {"name": "azureWorkloadIdentity"}}`)); err == nil || !strings.Contains(err.Error(), oras.EnvAzureClientID) {
		t.Errorf("no clientID and no %s: %v", oras.EnvAzureClientID, err)
	}
	if _, err := StoreConfig(storeOf(`{"authProvider": {"name": "azureManagedIdentity"}}`)); err != nil {
		t.Errorf("system-assigned managed identity: %v", err)
	}
}

// The Azure settings reach oras: endpoints are validated there, and
// disableInstanceDiscovery is accepted.
func TestStoreConfigAzureSettings(t *testing.T) {
	workloadIdentityEnv(t)
	if _, err := StoreConfig(storeOf(`{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "c", "endpoints": ["registry.contoso.example", "*.azurecr.io"], "disableInstanceDiscovery": true}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := StoreConfig(storeOf(`{"authProvider": {"name": "azureManagedIdentity", "endpoints": ["r.azurecr.io/team"]}}`)); err == nil || !strings.Contains(err.Error(), "authProvider.endpoints") {
		t.Errorf("an endpoint with a path: %v", err)
	}
}
