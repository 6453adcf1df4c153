package oras_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

const (
	azTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	azClientID = "1c7ac5a6-0d5b-4f3e-9b8a-1f2e3d4c5b6a"
	acrName    = "ratifytest.azurecr.io"
)

// azure is a simulated Azure for one test: Entra ID at the public
// authority host, an ACR at acrName holding app:v1, and the environment
// the workload identity webhook injects.
type azure struct {
	net   *azuresim.Net
	entra *azuresim.Entra
	acr   *azuresim.ACR
	image ocispec.Descriptor

	mu        sync.Mutex
	exchanges map[string]int // ObserveExchange calls by kind
}

func newAzure(t *testing.T) *azure {
	t.Helper()
	a := &azure{net: azuresim.NewNet(t), entra: azuresim.NewEntra(azTenant), exchanges: map[string]int{}}
	a.entra.Serve(t, a.net)
	issuer := azuresim.NewIssuer("https://oidc.example.com/cluster")
	a.entra.AddWorkloadIdentity(azClientID, issuer.Credential("gatekeeper-system", "ratify-admin"))
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	issuer.WriteToken(t, tokenFile, "gatekeeper-system", "ratify-admin")
	a.acr = azuresim.StartACR(t, a.net, a.entra, azuresim.ACROptions{Name: acrName})
	a.acr.Assign(azClientID, azuresim.RoleAcrPull)
	a.image = regtest.PushImage(t, a.acr.Repository(t, a.net, "app"), "v1")
	t.Setenv(oras.EnvAzureTenantID, azTenant)
	t.Setenv(oras.EnvAzureFederatedTokenFile, tokenFile)
	t.Setenv(oras.EnvAzureAuthorityHost, "https://"+azuresim.LoginHost+"/")
	t.Setenv(oras.EnvAzureClientID, "")
	return a
}

// store is a registry store with params (JSON Store parameters), its
// registry and identity traffic on the simulated network.
func (a *azure) store(t *testing.T, params string) *oras.Store {
	t.Helper()
	cfg, err := oras.ConfigFromParameters("store-oras", oras.TypeRemote, json.RawMessage(params))
	if err != nil {
		t.Fatal(err)
	}
	st, err := oras.New(context.Background(), []oras.Config{cfg}, oras.Options{
		IdentityTransport: a.net.Transport(),
		WrapTransport:     func(http.RoundTripper) http.RoundTripper { return a.net.Transport() },
		ObserveExchange: func(kind string, d time.Duration, err error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if err != nil {
				kind += " failed"
			}
			a.exchanges[kind]++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (a *azure) observed(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exchanges[kind]
}

func resolve(t *testing.T, st *oras.Store, ref string) (ocispec.Descriptor, error) {
	t.Helper()
	r, err := oras.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return st.Resolve(ctx, r)
}

const guideParams = `{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "` + azClientID + `"}, "cosignEnabled": true}`

// The guide's Store reads an ACR that demands tokens: one Entra ID token,
// one exchange, and the refresh token reused for the next repository.
func TestAzureWorkloadIdentity(t *testing.T) {
	a := newAzure(t)
	st := a.store(t, guideParams)
	desc, err := resolve(t, st, acrName+"/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != a.image.Digest {
		t.Fatalf("resolved %s, want %s", desc.Digest, a.image.Digest)
	}
	regtest.PushImage(t, a.acr.Repository(t, a.net, "other"), "v1")
	if _, err := resolve(t, st, acrName+"/other:v1"); err != nil {
		t.Fatal(err)
	}
	e, c := a.entra.Counts(), a.acr.Counts()
	t.Logf("entra %+v, acr %+v", e, c)
	if e.Token != 1 || c.Exchange != 1 || c.ExchangeRefused != 0 || c.TokenRefused != 0 {
		t.Errorf("one Entra ID token and one exchange for two repositories; got entra %+v, acr %+v", e, c)
	}
	if a.observed(oras.AzureExchangeAAD) != 1 || a.observed(oras.AzureExchangeACR) != 1 {
		t.Errorf("observed exchanges %v, want one of each", a.exchanges)
	}
}

// Cold requests at once share one Entra ID token and one exchange.
func TestAzureConcurrentRequestsShareOneExchange(t *testing.T) {
	a := newAzure(t)
	for i := range 8 {
		regtest.PushImage(t, a.acr.Repository(t, a.net, fmt.Sprintf("app%d", i)), "v1")
	}
	st := a.store(t, guideParams)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := resolve(t, st, fmt.Sprintf("%s/app%d:v1", acrName, i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if e, c := a.entra.Counts(), a.acr.Counts(); e.Token != 1 || c.Exchange != 1 {
		t.Errorf("8 concurrent cold requests: %d Entra ID tokens, %d exchanges; want 1 and 1", e.Token, c.Exchange)
	}
}

// trap is a registry that challenges every request and records the
// Authorization headers it is sent.
type trap struct {
	mu      sync.Mutex
	auth    []string
	answers int
}

func (tr *trap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	tr.answers++
	if h := r.Header.Get("Authorization"); h != "" {
		tr.auth = append(tr.auth, r.URL.Path+": "+h)
	}
	tr.mu.Unlock()
	w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/token",service="trap"`, r.Host))
	http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}`, http.StatusUnauthorized)
}

// Only ACR hosts get ACR credentials: another registry, even one whose
// name starts with an ACR host's, is asked anonymously, and no token is
// exchanged for it.
func TestAzureCredentialsOnlyForACRHosts(t *testing.T) {
	a := newAzure(t)
	tr := &trap{}
	a.net.ServeTLS(t, tr, "registry.example.com", acrName+".example.com", "evil.azurecr.io.example.net")
	st := a.store(t, guideParams)
	for _, host := range []string{"registry.example.com", acrName + ".example.com", "evil.azurecr.io.example.net"} {
		_, err := resolve(t, st, host+"/app:v1")
		if !errors.Is(err, oras.ErrUnauthorized) {
			t.Errorf("%s: %v, want the trap's refusal", host, err)
		}
	}
	if e, c := a.entra.Counts(), a.acr.Counts(); e.Token != 0 || c.Exchange != 0 {
		t.Errorf("credentials were exchanged for a registry that is not ACR: entra %+v, acr %+v", e, c)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.answers == 0 || len(tr.auth) != 0 {
		t.Errorf("the trap answered %d requests; Authorization headers it got: %q", tr.answers, tr.auth)
	}
}

// endpoints replace the ACR hosts, as in Ratify: a registry under a custom
// name gets credentials, *.azurecr.io no longer does.
func TestAzureEndpoints(t *testing.T) {
	a := newAzure(t)
	custom := azuresim.StartACR(t, a.net, a.entra, azuresim.ACROptions{Name: "registry.contoso.example"})
	custom.Assign(azClientID, azuresim.RoleAcrPull)
	regtest.PushImage(t, custom.Repository(t, a.net, "app"), "v1")
	st := a.store(t, `{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "`+azClientID+`", "endpoints": ["registry.contoso.example"]}}`)
	if _, err := resolve(t, st, "registry.contoso.example/app:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(t, st, acrName+"/app:v1"); !errors.Is(err, oras.ErrUnauthorized) {
		t.Fatalf("%s outside endpoints: %v, want anonymous access refused", acrName, err)
	}
	if n := a.acr.Counts().Exchange; n != 0 {
		t.Errorf("%d exchanges with %s, which endpoints leave out", n, acrName)
	}
	if n := custom.Counts().Exchange; n != 1 {
		t.Errorf("%d exchanges with the endpoint, want 1", n)
	}
}

// A refresh token the registry refuses is dropped and the token request
// is tried once more with a new one; when the new one is refused too, the
// refusal is the answer (no loop).
func TestAzureRefusedRefreshTokenIsReplacedOnce(t *testing.T) {
	a := newAzure(t)
	regtest.PushImage(t, a.acr.Repository(t, a.net, "second"), "v1")
	regtest.PushImage(t, a.acr.Repository(t, a.net, "third"), "v1")
	st := a.store(t, guideParams)
	if _, err := resolve(t, st, acrName+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	a.acr.RevokeRefreshTokens()
	if _, err := resolve(t, st, acrName+"/second:v1"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	c := a.acr.Counts()
	if c.Exchange != 2 || c.TokenRefused != 1 {
		t.Errorf("revoked refresh token: %d exchanges, %d refusals; want 2 and 1", c.Exchange, c.TokenRefused)
	}

	a.acr.RefuseRefreshTokens(true)
	_, err := resolve(t, st, acrName+"/third:v1")
	t.Logf("every refresh token refused: %v", err)
	if !errors.Is(err, oras.ErrUnauthorized) || !strings.Contains(err.Error(), "no role assignment") {
		t.Fatalf("every refresh token refused: %v, want the registry's refusal", err)
	}
	d := a.acr.Counts()
	if d.TokenRefused-c.TokenRefused != 2 || d.Exchange-c.Exchange != 1 {
		t.Errorf("every refresh token refused: %d more refusals, %d more exchanges; want 2 and 1", d.TokenRefused-c.TokenRefused, d.Exchange-c.Exchange)
	}
}

// A refused exchange is an unauthorized error naming ACR's answer, at the
// first use (the Store itself loads).
func TestAzureExchangeRefused(t *testing.T) {
	a := newAzure(t)
	a.acr.RefuseExchange(http.StatusUnauthorized, "UNAUTHORIZED", "identity has no AcrPull role assignment")
	st := a.store(t, guideParams)
	_, err := resolve(t, st, acrName+"/app:v1")
	t.Logf("refused exchange: %v", err)
	if !errors.Is(err, oras.ErrUnauthorized) || oras.IsTransient(err) {
		t.Fatalf("refused exchange: %v, want a permanent unauthorized error", err)
	}
	for _, want := range []string{"ACR refused the token exchange", "https://" + acrName + "/oauth2/exchange", "401", "identity has no AcrPull role assignment"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if a.observed(oras.AzureExchangeACR+" failed") != 1 {
		t.Errorf("observed %v, want one failed ACR exchange", a.exchanges)
	}
}

// An assertion Entra ID does not accept (a service account without a
// federated credential) is an unauthorized error with Entra ID's answer.
func TestAzureEntraRefuses(t *testing.T) {
	a := newAzure(t)
	other := filepath.Join(t.TempDir(), "token")
	azuresim.NewIssuer("https://oidc.example.com/cluster").WriteToken(t, other, "default", "default")
	t.Setenv(oras.EnvAzureFederatedTokenFile, other)
	st := a.store(t, guideParams)
	_, err := resolve(t, st, acrName+"/app:v1")
	t.Logf("refused assertion: %v", err)
	if !errors.Is(err, oras.ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS700213") || !strings.Contains(err.Error(), azClientID) {
		t.Fatalf("refused assertion: %v, want Entra ID's AADSTS700213 for the client", err)
	}
	if n := a.acr.Counts().Exchange; n != 0 {
		t.Errorf("%d exchanges without an Entra ID token", n)
	}
}

// A missing variable fails the Store's configuration, naming it.
func TestAzureMissingEnvironment(t *testing.T) {
	set := func() {
		t.Setenv(oras.EnvAzureTenantID, azTenant)
		t.Setenv(oras.EnvAzureClientID, "")
		t.Setenv(oras.EnvAzureFederatedTokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
		t.Setenv(oras.EnvAzureAuthorityHost, "https://login.microsoftonline.com/")
	}
	for _, c := range []struct {
		name, params, unset, want string
	}{
		{"tenant", guideParams, oras.EnvAzureTenantID, oras.EnvAzureTenantID},
		{"token file", guideParams, oras.EnvAzureFederatedTokenFile, oras.EnvAzureFederatedTokenFile},
		{"authority", guideParams, oras.EnvAzureAuthorityHost, oras.EnvAzureAuthorityHost},
		{"client ID", `{"authProvider": {"name": "azureWorkloadIdentity"}}`, "", oras.EnvAzureClientID},
		{"managed identity tenant", `{"authProvider": {"name": "azureManagedIdentity"}}`, oras.EnvAzureTenantID, oras.EnvAzureTenantID},
	} {
		set()
		if c.unset != "" {
			os.Unsetenv(c.unset)
		}
		_, err := oras.ConfigFromParameters("store-oras", oras.TypeRemote, json.RawMessage(c.params))
		if !errors.Is(err, oras.ErrMissingEnv) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `store "store-oras"`) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	set()
	for _, params := range []string{
		guideParams,
		`{"authProvider": {"name": "azureManagedIdentity"}}`,
		`{"authProvider": {"name": "azureManagedIdentity", "clientID": "x"}}`,
	} {
		if _, err := oras.ConfigFromParameters("store-oras", oras.TypeRemote, json.RawMessage(params)); err != nil {
			t.Errorf("%s: %v", params, err)
		}
	}
	t.Setenv(oras.EnvAzureClientID, azClientID)
	if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(`{"authProvider": {"name": "azureWorkloadIdentity"}}`)); err != nil {
		t.Errorf("client ID from %s: %v", oras.EnvAzureClientID, err)
	}
	t.Setenv(oras.EnvAzureAuthorityHost, "login.microsoftonline.com")
	if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(guideParams)); err == nil || !strings.Contains(err.Error(), "https URL") {
		t.Errorf("an authority without scheme: %v", err)
	}
	t.Setenv(oras.EnvAzureAuthorityHost, "https://login.microsoftonline.com/")
	if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(`{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "c", "endpoints": ["https://r.azurecr.io"]}}`)); err == nil || !strings.Contains(err.Error(), "authProvider.endpoints") {
		t.Errorf("an endpoint with a scheme: %v", err)
	}
}

// azureManagedIdentity gets its token from the node's managed identity
// endpoint (IMDS), the user-assigned one named by clientID.
func TestAzureManagedIdentity(t *testing.T) {
	a := newAzure(t)
	a.entra.ServeIMDS(t, a.net)
	const userAssigned = "9a8b7c6d-0000-4000-8000-00000000a11e"
	a.entra.AddManagedIdentity(userAssigned)
	a.acr.Assign(userAssigned, azuresim.RoleAcrPull)
	st := a.store(t, `{"authProvider": {"name": "azureManagedIdentity", "clientID": "`+userAssigned+`"}}`)
	if _, err := resolve(t, st, acrName+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	if e, c := a.entra.Counts(), a.acr.Counts(); e.IMDS != 1 || e.Token != 0 || c.Exchange != 1 {
		t.Errorf("managed identity: entra %+v, acr %+v", e, c)
	}
}

// With tokens that last seconds, reads keep succeeding across several
// renewals of the Entra ID and refresh tokens, made in the background.
func TestAzureShortLivedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for tokens to expire")
	}
	a := newAzure(t)
	a.entra.SetTokenLifetime(3 * time.Second)
	a.acr.SetLifetimes(3*time.Second, time.Second)
	st := a.store(t, `{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "`+azClientID+`"}, "referrersCacheTTL": "0s"}`)
	var slowest time.Duration
	var reads int
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); reads++ {
		start := time.Now()
		if _, err := resolve(t, st, acrName+"/app:v1"); err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	e, c := a.entra.Counts(), a.acr.Counts()
	t.Logf("%d reads, slowest %s; entra %+v; acr %+v", reads, slowest, e, c)
	if e.Token < 3 || c.Exchange < 3 || c.TokenRefused != 0 || c.ExchangeRefused != 0 {
		t.Errorf("over 6s of 3s tokens: %d Entra ID tokens, %d exchanges, %d refusals", e.Token, c.Exchange, c.TokenRefused+c.ExchangeRefused)
	}
}

// An authority host MSAL does not know (a private cloud's) has its
// instance discovery asked of the public cloud's login host, unless the
// Store sets disableInstanceDiscovery.
func TestAzureInstanceDiscovery(t *testing.T) {
	a := newAzure(t)
	private := a.entra.Serve(t, a.net) // the same tenant at 127.0.0.1:port
	t.Setenv(oras.EnvAzureAuthorityHost, "https://"+private+"/")
	st := a.store(t, guideParams)
	if _, err := resolve(t, st, acrName+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	asked := a.entra.InstanceDiscoveries()
	if len(asked) == 0 || !strings.Contains(asked[0], private) {
		t.Fatalf("instance discovery requests %q, want some for %s", asked, private)
	}
	st = a.store(t, `{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "`+azClientID+`", "disableInstanceDiscovery": true}}`)
	if _, err := resolve(t, st, acrName+"/app:v1"); err != nil {
		t.Fatal(err)
	}
	if got := a.entra.InstanceDiscoveries(); len(got) != len(asked) {
		t.Errorf("disableInstanceDiscovery: instance discovery requests %q", got[len(asked):])
	}
	if n := a.entra.Counts().Token; n != 2 {
		t.Errorf("%d Entra ID tokens for two stores, want 2", n)
	}
}
