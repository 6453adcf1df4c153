package oras

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// ConfigFromParameters is a Store resource's path to a Config, for the
// tests of this package that write parameters as JSON: decoded and
// validated by crds/v1beta1, then NewConfig, as the engine does.
func ConfigFromParameters(name, storeType string, raw json.RawMessage) (Config, error) {
	p, _, err := v1beta1.DecodeParameters[v1beta1.StoreParameters](runtime.RawExtension{Raw: raw})
	if err != nil {
		return Config{}, fmt.Errorf("store %q: %w", name, err)
	}
	s := StoreSettings{
		CosignEnabled: p.CosignEnabled, UseHTTP: p.UseHTTP, CAFile: p.CAFile,
		ReferrersCacheTTL: p.ReferrersCacheTTL, Path: p.Path, Scopes: p.Scopes,
	}
	if a := p.AuthProvider; a != nil {
		s.Auth = &AuthSettings{Name: a.Name, ConfigPath: a.ConfigPath, Username: a.Username, Password: a.Password, Hosts: a.Hosts,
			ClientID: a.ClientID, Endpoints: a.Endpoints, DisableInstanceDiscovery: a.DisableInstanceDiscovery}
	}
	return NewConfig(name, storeType, s)
}

func TestNewConfig(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(EnvAzureTenantID, "t")
	t.Setenv(EnvAzureFederatedTokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
	t.Setenv(EnvAzureAuthorityHost, "https://login.microsoftonline.com/")
	for _, c := range []struct {
		name, typ string
		s         StoreSettings
		want      string // error substring; "" for success
	}{
		{"remote", TypeRemote, StoreSettings{UseHTTP: true, CosignEnabled: true}, ""},
		{"layout", TypeLayout, StoreSettings{Path: "/dir", Scopes: []string{"r.io/*"}}, ""},
		{"unknown store", "s3", StoreSettings{}, `unknown store "s3"`},
		{"ttl", TypeRemote, StoreSettings{ReferrersCacheTTL: "soon"}, "referrersCacheTTL"},
		{"anonymous", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthAnonymous}}, ""},
		{"docker default name", TypeRemote, StoreSettings{Auth: &AuthSettings{}}, ""},
		{"static", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthStatic, Username: "u", Hosts: []string{"r.io"}}}, ""},
		{"static by scopes", TypeRemote, StoreSettings{Scopes: []string{"r.io/*"}, Auth: &AuthSettings{Name: AuthStatic, Username: "u"}}, ""},
		{"static without username", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthStatic, Hosts: []string{"r.io"}}}, "needs a username"},
		{"static without hosts", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthStatic, Username: "u"}}, "authProvider.hosts"},
		{"bad host", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthStatic, Username: "u", Hosts: []string{"r.io/team"}}}, "authProvider.hosts"},
		{"later provider", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: "k8Secrets"}}, ""},
		// With the variables the workload identity webhook injects (set above).
		{"azure workload identity", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthAzureWorkloadIdentity, ClientID: "c"}}, ""},
		{"azure managed identity", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: AuthAzureManagedIdentity}}, ""},
		{"unknown provider", TypeRemote, StoreSettings{Auth: &AuthSettings{Name: "magic"}}, `unknown authProvider "magic"`},
	} {
		cfg, err := NewConfig("s", c.typ, c.s)
		if c.want == "" {
			if err != nil || cfg.Name != "s" || cfg.Type != c.typ || cfg.Auth == nil {
				t.Errorf("%s: %+v %v", c.name, cfg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `store "s"`) {
			t.Errorf("%s: %v, want an error naming the store and containing %q", c.name, err, c.want)
		}
	}
}

func TestNewConfigReferrersTTL(t *testing.T) {
	for ttl, want := range map[string]int64{"": 0, "0s": -1, "90s": 90e9, "-1s": -1e9} {
		cfg, err := NewConfig("s", TypeLayout, StoreSettings{ReferrersCacheTTL: ttl, Auth: &AuthSettings{Name: AuthAnonymous}})
		if err != nil || int64(cfg.ReferrersTTL) != want {
			t.Errorf("referrersCacheTTL %q: %v %v, want %d", ttl, cfg.ReferrersTTL, err, want)
		}
	}
}

// A provider of Ratify's that is not supported yet loads, and says so to
// a registry that asks for credentials; never to another host.
func TestLaterAuthProvider(t *testing.T) {
	a, err := NewAuth(&AuthSettings{Name: "k8Secrets", Hosts: []string{"r.io"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a(context.Background(), "r.io"); err == nil || !strings.Contains(err.Error(), "not supported by this version") {
		t.Errorf("r.io: %v", err)
	}
	if _, err := a(context.Background(), "other.io"); err != nil {
		t.Errorf("other.io: %v", err)
	}
}
