package azuresim_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// akvName is the simulated vault: https://ratifytest.vault.azure.net/.
const akvName = "ratifytest"

// guideCloud is the guide's Azure: the simulated ACR and Key Vault behind
// one simulated Entra ID, which issues the workload identity's tokens for
// both (scopes https://containerregistry.azure.net and
// https://vault.azure.net); the identity has AcrPull on the registry and
// Key Vault Secrets User and Key Vault Crypto User on the vault.
type guideCloud struct {
	*simCloud
	vault *azuresim.KeyVault
	// vars are the guide's shell variables.
	vars map[string]string
}

func newGuideCloud(t *testing.T) *guideCloud {
	t.Helper()
	g := &guideCloud{simCloud: newCloud(t)}
	// The webhook injects AZURE_CLIENT_ID too (from the service account's
	// annotation); the Store and the KMP name the same identity.
	t.Setenv("AZURE_CLIENT_ID", clientID)
	g.vault = azuresim.StartKeyVault(t, g.net, g.entra, akvName)
	g.vault.Assign(clientID, azuresim.RoleKeyVaultSecretsUser)
	g.vault.Assign(clientID, azuresim.RoleKeyVaultCryptoUser)
	g.vars = map[string]string{
		"TENANT_ID": tenant, "IDENTITY_CLIENT_ID": clientID, "CLIENT_ID": clientID, "AKV_NAME": akvName,
	}
	return g
}

// guideFile reads a file of the guide's resources, its variables expanded
// as the guide's shell does: the KMPs from testdata/guide (the guide's
// azurekeyvault ones), the rest from cmd/ratify/testdata/guide.
func (g *guideCloud) guideFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join("..", "..", "cmd", "ratify", "testdata", "guide", name)
	if strings.HasPrefix(name, "kmp_") {
		path = filepath.Join("testdata", "guide", name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return os.Expand(string(b), func(k string) string { return g.vars[k] })
}

// kmp loads one of the guide's KeyManagementProvider files.
func (g *guideCloud) kmp(t *testing.T, file string) v1beta1.KeyManagementProvider {
	t.Helper()
	res, err := config.Load(strings.NewReader(g.guideFile(t, file)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(res.KMPs) != 1 {
		t.Fatalf("%s: %d KeyManagementProviders", file, len(res.KMPs))
	}
	return res.KMPs[0]
}

// combine is the guide's "You may combine the configuration into one
// KeyManagementProvider resource for both keys and certificates if they
// are stored in the same AKV": the guide writes both of its
// KeyManagementProviders under one name (keymanagementprovider-akv,
// kmp_config.yaml), so a cluster holds one of them, or both combined.
func combine(t *testing.T, a, b v1beta1.KeyManagementProvider) v1beta1.KeyManagementProvider {
	t.Helper()
	var pa, pb map[string]any
	if json.Unmarshal(a.Spec.Parameters.Raw, &pa) != nil || json.Unmarshal(b.Spec.Parameters.Raw, &pb) != nil {
		t.Fatal("parameters are not JSON objects")
	}
	for _, field := range []string{"certificates", "keys"} {
		if add, ok := pb[field].([]any); ok {
			have, _ := pa[field].([]any)
			pa[field] = append(have, add...)
		}
	}
	raw, err := json.Marshal(pa)
	if err != nil {
		t.Fatal(err)
	}
	out := *a.DeepCopy()
	out.Spec.Parameters.Raw = raw
	return out
}

// resources are the guide's Store and both Verifiers with the given
// KeyManagementProviders.
func (g *guideCloud) resources(t *testing.T, kmps ...v1beta1.KeyManagementProvider) *config.Resources {
	t.Helper()
	var docs []string
	for _, f := range []string{"store_config.yaml", "notation_config.yaml", "cosign_config.yaml"} {
		docs = append(docs, g.guideFile(t, f))
	}
	res, err := config.Load(strings.NewReader(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}
	res.KMPs = kmps
	return res
}

// vaultClientOptions are the Azure SDK's options as ratify's server would
// pass them (engine.ProviderOptions.Azure), with the simulated network as
// the transport: the vault clients and the KMP's workload identity
// credential both use them. Retries are short for tests: a throttled
// answer (Retry-After: 1) surfaces at once.
func (g *guideCloud) vaultClientOptions() *azcore.ClientOptions {
	return &azcore.ClientOptions{
		Transport: &http.Client{Transport: g.net.Transport(), Timeout: 30 * time.Second},
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond},
	}
}

// shared is the long-lived state of one ratify. Its caches are off, so that
// every verification reads the providers (after a rotation the revision
// changes anyway; here also when it does not).
func (g *guideCloud) shared() *engine.Shared {
	return engine.NewShared(engine.Options{
		DecisionCacheTTL: -1, BuiltinCacheEntries: -1,
		Providers:    engine.ProviderOptions{Azure: g.vaultClientOptions()},
		StoreOptions: oras.Options{IdentityTransport: g.net.Transport(), WrapTransport: func(http.RoundTripper) http.RoundTripper { return g.net.Transport() }},
	})
}

func build(t *testing.T, s *engine.Shared, res *config.Resources) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := s.Build(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// pushNotation pushes a new image to repo, Notary Project signed with the
// leaf of pki, and returns its reference by digest.
func pushNotation(t *testing.T, repo *remote.Repository, name string, pki *sample.PKI) string {
	t.Helper()
	d := regtest.PushImage(t, repo, "")
	sign.Notation(t, pki, repo, d, sign.JWS)
	return acrName + "/" + name + "@" + d.Digest.String()
}

// pushCosign pushes a new image to repo, cosign signed with key (nil:
// unsigned).
func pushCosign(t *testing.T, repo *remote.Repository, name string, key *sign.CosignKey) string {
	t.Helper()
	d := regtest.PushImage(t, repo, "")
	if key != nil {
		sign.Cosign(t, key, repo, acrName+"/"+name, d, "")
	}
	return acrName + "/" + name + "@" + d.Digest.String()
}

// createCosignKey is `az keyvault key create`: a new version of the EC key
// name, its version, and its private key for `cosign sign --key azurekms://`.
func (g *guideCloud) createCosignKey(t *testing.T, name string) (string, *sign.CosignKey) {
	t.Helper()
	ver, signer, err := g.vault.CreateKey(name, keyvaultsim.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ver, &sign.CosignKey{Key: signer.(*ecdsa.PrivateKey)}
}

func wantAllowed(t *testing.T, e *engine.Engine, what, image string) {
	t.Helper()
	if d := evaluate(t, e, image); !d.Allow {
		t.Errorf("%s denied: %q", what, d.Reasons)
	}
}

// wantDenied checks that image is denied with every one of want in its
// reasons, and returns them.
func wantDenied(t *testing.T, e *engine.Engine, what, image string, want ...string) string {
	t.Helper()
	d := evaluate(t, e, image)
	reasons := strings.Join(d.Reasons, "\n")
	if d.Allow {
		t.Errorf("%s allowed", what)
	}
	for _, w := range want {
		if !strings.Contains(reasons, w) {
			t.Errorf("%s: reasons lack %q: %s", what, w, reasons)
		}
	}
	return reasons
}

// The guide end to end: its Store (azureWorkloadIdentity), its two
// KeyManagementProviders as it writes them (type azurekeyvault, combined
// into the one resource they name) and its notation and cosign Verifiers.
// The vault holds the notation certificate (a PEM secret with a
// non-exportable key, and a PKCS#12 variant) and the cosign key (EC);
// images signed with either in the ACR are admitted, unsigned ones denied.
// One Entra ID issues the workload identity's tokens for ACR and the vault.
func TestGuideKeyVaultEndToEnd(t *testing.T) {
	g := newGuideCloud(t)
	for _, tc := range []struct {
		name string
		opts keyvaultsim.CertificateOptions
	}{
		{"PEM", keyvaultsim.CertificateOptions{ContentType: keyvaultsim.ContentTypePEM, NonExportable: true}},
		{"PKCS12", keyvaultsim.CertificateOptions{ContentType: keyvaultsim.ContentTypePKCS12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.entra.Counts().Token
			tc.opts.Leaf = sample.Options{CommonName: "net-monitor signer " + tc.name}
			certName, keyName := "ratify-notation-"+strings.ToLower(tc.name), "ratify-cosign-"+strings.ToLower(tc.name)
			cert, err := g.vault.CreateCertificate(certName, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			keyVer, key := g.createCosignKey(t, keyName)
			for k, v := range map[string]string{"CERT_NAME": certName, "CERT_KEY_ID": cert.Version, "SUBJECT_DN": cert.Subject(), "KEY_NAME": keyName, "KEY_VER": keyVer} {
				g.vars[k] = v
			}
			repo := g.acr.Repository(t, g.net, "ratify-demo/net-monitor")
			notationSigned := pushNotation(t, repo, "ratify-demo/net-monitor", cert.PKI)
			cosignSigned := pushCosign(t, repo, "ratify-demo/net-monitor", key)
			unsigned := pushCosign(t, g.acr.Repository(t, g.net, "ratify-demo/net-watcher"), "ratify-demo/net-watcher", nil)

			kmp := combine(t, g.kmp(t, "kmp_config_notation.yaml"), g.kmp(t, "kmp_config_cosign.yaml"))
			s := g.shared()
			m, err := s.CheckKeyManagementProvider(context.Background(), "", kmp.Name, kmp.Spec)
			if err != nil {
				t.Fatalf("the KMP's check (its status): %v", err)
			}
			if len(m.Keys) != 1 || m.Keys[0].Version != keyVer || len(m.Certificates) != 2 || m.Certificates[0].Version != cert.Version {
				t.Errorf("material: %+v", m)
			}
			e := build(t, s, g.resources(t, kmp))
			wantAllowed(t, e, "notation-signed image", notationSigned)
			wantAllowed(t, e, "cosign-signed image", cosignSigned)
			reasons := wantDenied(t, e, "unsigned image", unsigned, "no signatures")
			t.Logf("unsigned: %s", reasons)

			// One token for ACR (the Store) and one for the vault (the KMP's
			// credential), from the same Entra ID; the vault let the identity's
			// requests through, on its role assignments.
			if n := g.entra.Counts().Token - before; n != 2 {
				t.Errorf("%d Entra ID tokens for the Store and the KMP, want 2", n)
			}
			if g.vault.Accepted(clientID) == 0 {
				t.Error("the vault served none of the identity's requests")
			}
		})
	}
	t.Logf("vault requests: %q", g.vault.Requests())
}
