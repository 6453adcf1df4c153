package azuresim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// acrName is the simulated registry's login server.
const acrName = "ratifytest.azurecr.io"

// simCloud is a simulated Azure for an end-to-end test: Entra ID at the
// public authority host, the registry at acrName, a cosign key, and the
// variables the workload identity webhook injects into ratify's pod.
type simCloud struct {
	net   *azuresim.Net
	entra *azuresim.Entra
	acr   *azuresim.ACR
	key   *sign.CosignKey
	// requests counts ratify's requests to registries (exchanges included).
	requests atomic.Int64
}

func newCloud(t testing.TB) *simCloud {
	t.Helper()
	c := &simCloud{net: azuresim.NewNet(t), entra: azuresim.NewEntra(tenant), key: sign.NewCosignKey(t)}
	c.entra.Serve(t, c.net)
	issuer := azuresim.NewIssuer("https://oidc.example.com/cluster")
	c.entra.AddWorkloadIdentity(clientID, issuer.Credential("gatekeeper-system", "ratify-admin"))
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	issuer.WriteToken(t, tokenFile, "gatekeeper-system", "ratify-admin")
	c.acr = azuresim.StartACR(t, c.net, c.entra, azuresim.ACROptions{Name: acrName})
	c.acr.Assign(clientID, azuresim.RoleAcrPull)
	t.Setenv("AZURE_TENANT_ID", tenant)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", "https://"+azuresim.LoginHost+"/")
	return c
}

// push pushes a new image into repository name of repo (at host), cosign
// signed when signed, and returns its reference by digest.
func (c *simCloud) push(t testing.TB, repo *remote.Repository, host, name string, signed bool) string {
	t.Helper()
	d := regtest.PushImage(t, repo, "")
	if signed {
		sign.Cosign(t, c.key, repo, host+"/"+name, d, "")
	}
	return host + "/" + name + "@" + d.Digest.String()
}

// guide is the guide's Store (its clientID the simulated identity's),
// KMP and cosign Verifier, as in cmd/ratify/testdata/guide, with extra
// Store parameters appended when given.
func (c *simCloud) guide(t testing.TB, extraStoreParams string) *config.Resources {
	t.Helper()
	res, err := config.Load(strings.NewReader(c.guideYAML(t, extraStoreParams)))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// guideYAML is guide's documents, as an operator applies them.
func (c *simCloud) guideYAML(t testing.TB, extraStoreParams string) string {
	t.Helper()
	keyJSON, _ := json.Marshal(c.key.PublicPEM())
	vars := map[string]string{"IDENTITY_CLIENT_ID": clientID, "KEY_PEM": string(keyJSON)}
	var docs []string
	for _, f := range []string{"store_config.yaml", "kmp_config_cosign.yaml", "cosign_config.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "cmd", "ratify", "testdata", "guide", f))
		if err != nil {
			t.Fatal(err)
		}
		doc := os.Expand(string(b), func(k string) string { return vars[k] })
		if f == "store_config.yaml" && extraStoreParams != "" {
			doc = strings.TrimRight(doc, "\n") + "\n    " + extraStoreParams + "\n"
		}
		docs = append(docs, doc)
	}
	return strings.Join(docs, "---\n")
}

// engine builds an engine on res whose registry and Entra ID traffic goes
// over the simulated network.
func (c *simCloud) engine(t testing.TB, res *config.Resources) *engine.Engine {
	t.Helper()
	tr := c.net.Transport()
	counted := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c.requests.Add(1)
		return tr.RoundTrip(r)
	})
	e, err := engine.New(context.Background(), res, engine.Options{StoreOptions: oras.Options{
		IdentityTransport: c.net.Transport(),
		WrapTransport:     func(http.RoundTripper) http.RoundTripper { return counted },
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func evaluate(t testing.TB, e *engine.Engine, image string) engine.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return e.Evaluate(ctx, image, "default")
}

// The guide's configuration, only the registry being the simulated ACR:
// a cosign-signed image is allowed and an unsigned one denied, through
// the registry's token authentication with the workload identity's
// credentials; when ACR refuses the exchange, the image is denied with
// ACR's answer as the reason.
func TestGuideWithWorkloadIdentity(t *testing.T) {
	c := newCloud(t)
	repo := c.acr.Repository(t, c.net, "ratify-demo/net-monitor")
	signed := c.push(t, repo, acrName, "ratify-demo/net-monitor", true)
	unsigned := c.push(t, repo, acrName, "ratify-demo/net-monitor", false)
	e := c.engine(t, c.guide(t, ""))

	if d := evaluate(t, e, signed); !d.Allow {
		t.Fatalf("signed image denied: %q", d.Reasons)
	}
	d := evaluate(t, e, unsigned)
	if d.Allow || !strings.Contains(strings.Join(d.Reasons, "\n"), "no signatures") {
		t.Fatalf("unsigned image: allow=%v %q", d.Allow, d.Reasons)
	}
	if n, x := c.entra.Counts().Token, c.acr.Counts().Exchange; n != 1 || x != 1 {
		t.Errorf("two verifications: %d Entra ID tokens, %d exchanges; want 1 and 1", n, x)
	}

	// A new store (a new ratify) with the exchange refused.
	c.acr.RefuseExchange(http.StatusUnauthorized, "UNAUTHORIZED", "identity "+clientID+" has no AcrPull role assignment on ratifytest")
	refused := c.engine(t, c.guide(t, ""))
	d = evaluate(t, refused, signed)
	reasons := strings.Join(d.Reasons, "\n")
	t.Logf("refused exchange: allow=%v transient=%v reasons %q", d.Allow, d.Transient, d.Reasons)
	if d.Allow {
		t.Fatal("allowed although ACR refused the exchange")
	}
	for _, want := range []string{"ACR refused the token exchange", "401", "has no AcrPull role assignment"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("reasons lack %q: %s", want, reasons)
		}
	}
}

// Tokens that last seconds expire and are renewed while verifications go
// on: none fails.
func TestWorkloadIdentityRenewalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for tokens to expire")
	}
	c := newCloud(t)
	c.entra.SetTokenLifetime(3 * time.Second)
	c.acr.SetLifetimes(3*time.Second, time.Second)
	repo := c.acr.Repository(t, c.net, "app")
	signed := c.push(t, repo, acrName, "app", true)
	// Nothing derived from the registry is cached: every verification reads it.
	e := c.engine(t, c.guide(t, `referrersCacheTTL: 0s`))
	var n int
	var slowest time.Duration
	for end := time.Now().Add(7 * time.Second); time.Now().Before(end); n++ {
		start := time.Now()
		if d := evaluate(t, e, signed); !d.Allow {
			t.Fatalf("verification %d denied: %q", n, d.Reasons)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(25 * time.Millisecond)
	}
	en, ac := c.entra.Counts(), c.acr.Counts()
	t.Logf("%d verifications over 7s of 3s tokens, slowest %s; Entra ID %+v; ACR %+v", n, slowest, en, ac)
	if en.Token < 3 || ac.Exchange < 3 || ac.TokenRefused != 0 {
		t.Errorf("%d Entra ID tokens, %d exchanges, %d refusals: the tokens were not renewed", en.Token, ac.Exchange, ac.TokenRefused)
	}
}

// The controller checks a Store with engine.CheckStore: without the
// webhook's variables, the guide's Store fails there, naming the variable.
func TestCheckStoreNamesMissingVariable(t *testing.T) {
	c := newCloud(t)
	res := c.guide(t, "")
	if err := engine.CheckStore(res.Stores[0]); err != nil {
		t.Fatalf("with the webhook's variables: %v", err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	err := engine.CheckStore(res.Stores[0])
	if err == nil || !strings.Contains(err.Error(), "AZURE_FEDERATED_TOKEN_FILE") {
		t.Fatalf("without AZURE_FEDERATED_TOKEN_FILE: %v", err)
	}
	t.Logf("status error: %v", err)
}
