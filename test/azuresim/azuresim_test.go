package azuresim_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "1c7ac5a6-0d5b-4f3e-9b8a-1f2e3d4c5b6a"
)

// The real azidentity client gets a token from the simulated Entra ID at
// the public authority host, with instance discovery as MSAL does it;
// the simulated ACR exchanges it and the distribution registry behind it
// serves only with the access token the simulator issued.
func TestWorkloadIdentityThroughSimulators(t *testing.T) {
	n := azuresim.NewNet(t)
	entra := azuresim.NewEntra(tenant)
	entra.Serve(t, n)
	issuer := azuresim.NewIssuer("https://oidc.example.com/cluster")
	entra.AddWorkloadIdentity(clientID, issuer.Credential("gatekeeper-system", "ratify-admin"))
	tokenFile := filepath.Join(t.TempDir(), "token")
	issuer.WriteToken(t, tokenFile, "gatekeeper-system", "ratify-admin")

	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: n.Client(), Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://" + azuresim.LoginHost + "/"}},
		ClientID:      clientID, TenantID: tenant, TokenFilePath: tokenFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azuresim.ACRResource + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(at.ExpiresOn) < 50*time.Minute {
		t.Errorf("token expires %s", at.ExpiresOn)
	}
	c := entra.Counts()
	t.Logf("entra: %+v, instance discovery for %v", c, entra.InstanceDiscoveries())
	if c.Token != 1 || c.TokenRefused != 0 || c.Metadata != 1 {
		t.Errorf("entra counts %+v", c)
	}

	acr := azuresim.StartACR(t, n, entra, azuresim.ACROptions{Name: "ratifytest.azurecr.io"})
	acr.Assign(clientID, azuresim.RoleAcrPull)
	img := regtest.PushImage(t, acr.Repository(t, n, "app"), "v1")

	// Anonymous access is refused by the registry itself.
	resp, err := n.Client().Get("https://ratifytest.azurecr.io/v2/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("Www-Authenticate"), `realm="https://ratifytest.azurecr.io/oauth2/token"`) {
		t.Fatalf("anonymous: %s %v", resp.Status, resp.Header)
	}

	form := url.Values{"grant_type": {"access_token"}, "service": {acr.Host}, "tenant": {tenant}, "access_token": {at.Token}}
	resp, err = n.Client().PostForm("https://ratifytest.azurecr.io/oauth2/exchange", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %s", resp.Status)
	}
	_ = img
}

// A process reaches the simulators through Net.Proxy under their public
// names; a host no simulator serves is refused by the proxy.
func TestProxy(t *testing.T) {
	n := azuresim.NewNet(t)
	entra := azuresim.NewEntra(tenant)
	entra.Serve(t, n)
	proxy, err := url.Parse(n.Proxy(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := n.Transport()
	tr.DialContext = nil // dial the proxy itself, as another process would
	tr.Proxy = http.ProxyURL(proxy)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + azuresim.LoginHost + "/" + tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery through the proxy: %s", resp.Status)
	}
	if _, err := client.Get("https://example.com/"); err == nil {
		t.Fatal("the proxy tunnelled to a host no simulator serves")
	}
}
