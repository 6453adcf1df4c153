package kmp_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// newAKV is a provider of v's objects, talking to it through the SDK.
func newAKV(t *testing.T, v *keyvaultsim.Vault, cfg kmp.AzureKeyVaultConfig) *kmp.AzureKeyVault {
	t.Helper()
	cfg.VaultURI, cfg.TenantID, cfg.ClientID = v.URL(), v.TenantID(), "ratify-identity"
	if cfg.Credential == nil {
		cfg.Credential = v.Credential()
	}
	cfg.ClientOptions = v.ClientOptions()
	a, err := kmp.NewAzureKeyVault("akv", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func refresh(t *testing.T, a *kmp.AzureKeyVault) {
	t.Helper()
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

func keys(t *testing.T, a *kmp.AzureKeyVault) []kmp.Key {
	t.Helper()
	ks, err := a.Keys(context.Background())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return ks
}

// keyVersions are "name/version" of the keys held, in order.
func keyVersions(t *testing.T, a *kmp.AzureKeyVault) []string {
	t.Helper()
	var out []string
	for _, k := range keys(t, a) {
		if k.Provider != "akv" || !k.Enabled {
			t.Errorf("key %+v", k)
		}
		out = append(out, k.Name+"/"+k.Version)
	}
	return out
}

func createKey(t *testing.T, v *keyvaultsim.Vault, name string) string {
	t.Helper()
	ver, _, err := v.CreateKey(name, keyvaultsim.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ver
}

func wantVersions(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

// A certificate's chain comes from its secret, PEM or PKCS#12, leaf first;
// its private key is never kept.
func TestAzureKeyVaultCertificateChains(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	for _, c := range []struct {
		contentType   string
		nonExportable bool
	}{
		{keyvaultsim.ContentTypePKCS12, false},
		{keyvaultsim.ContentTypePEM, false},
		{keyvaultsim.ContentTypePEM, true},
	} {
		name := "cert-" + strings.ReplaceAll(c.contentType[len("application/x-"):], "-", "")
		if c.nonExportable {
			name += "-nonexportable"
		}
		cert, err := v.CreateCertificate(name, keyvaultsim.CertificateOptions{ContentType: c.contentType, NonExportable: c.nonExportable,
			Leaf: sample.Options{CommonName: name, Key: sample.RSA2048}})
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		a := newAKV(t, v, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: name}},
			Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		refresh(t, a)
		if warned := strings.Contains(logged.String(), "private key"); warned == c.nonExportable {
			t.Errorf("%s: warned of a private key %v: %s", name, warned, logged.String())
		}
		got, err := a.Certificates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d certificates, want leaf and CA", name, len(got))
		}
		for i, want := range []*x509.Certificate{cert.Leaf, cert.CA} {
			g := got[i]
			b, _ := pem.Decode([]byte(g.PEM))
			if b == nil || b.Type != "CERTIFICATE" || string(b.Bytes) != string(want.Raw) {
				t.Errorf("%s: certificate %d is not the chain's", name, i)
			}
			if g.Name != name || g.Version != cert.Version || !g.Enabled || g.Provider != "akv" ||
				g.Subject != want.Subject.String() || g.Issuer != want.Issuer.String() || !g.NotAfter.Equal(want.NotAfter) {
				t.Errorf("%s: %+v", name, g)
			}
			if strings.Contains(g.PEM, "PRIVATE") {
				t.Errorf("%s: a private key is kept", name)
			}
		}
		if ks := keys(t, a); len(ks) != 0 {
			t.Errorf("%s: keys %v of a provider of certificates", name, ks)
		}
	}
}

// A PKCS#12 secret of a non-exportable key holds no key, which Go cannot
// read: the error says to trust the root through an inline provider, also
// when the identity may not read the secret at all.
func TestAzureKeyVaultNonExportable(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	if _, err := v.CreateCertificate("sealed", keyvaultsim.CertificateOptions{NonExportable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.CreateCertificate("open", keyvaultsim.CertificateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "sealed"}}})
	err := a.Refresh(context.Background())
	if !errors.Is(err, kmp.ErrNonExportable) || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), "inline key management provider") ||
		!strings.Contains(err.Error(), "certificate sealed version "+v.Latest(keyvaultsim.Certificates, "sealed")) {
		t.Errorf("non-exportable PKCS#12: %v", err)
	}
	if _, cerr := a.Certificates(context.Background()); !errors.Is(cerr, kmp.ErrNonExportable) {
		t.Errorf("Certificates after it: %v", cerr)
	}

	v.Forbid(keyvaultsim.Secrets, "get", true)
	if err := a.Refresh(context.Background()); !errors.Is(err, kmp.ErrNonExportable) || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("non-exportable, secret forbidden: %v", err)
	}
	open := newAKV(t, v, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "open"}}})
	err = open.Refresh(context.Background())
	if err == nil || errors.Is(err, kmp.ErrNonExportable) || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), "403") ||
		!strings.Contains(err.Error(), "Key Vault Secrets User") {
		t.Errorf("exportable, secret forbidden: %v", err)
	}
}

func TestAzureKeyVaultKeyTypes(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	for _, c := range []struct {
		alg  sample.KeyAlgorithm
		hsm  bool
		want string
	}{
		{sample.RSA2048, false, "RSA-2048"},
		{sample.RSA3072, true, "RSA-3072"},
		{sample.ECDSAP256, false, "ECDSA-P-256"},
		{sample.ECDSAP384, false, "ECDSA-P-384"},
		{sample.ECDSAP521, false, "ECDSA-P-521"},
		{sample.ECDSAP384, true, "ECDSA-P-384"},
	} {
		name := strings.ToLower(string(c.alg))
		if c.hsm {
			name += "-hsm"
		}
		ver, priv, err := v.CreateKey(name, keyvaultsim.KeyOptions{Algorithm: c.alg, HSM: c.hsm})
		if err != nil {
			t.Fatal(err)
		}
		a := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: name}}})
		refresh(t, a)
		ks := keys(t, a)
		wantPEM, _ := sample.PublicKeyPEM(priv.Public())
		if len(ks) != 1 || ks[0].Algorithm != c.want || ks[0].PEM != wantPEM || ks[0].Name != name || ks[0].Version != ver || !ks[0].Enabled {
			t.Errorf("%s: %+v", name, ks)
		}
	}
}

func TestAzureKeyVaultUnsupportedKeys(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	v.ImportKeyJWK("symmetric", map[string]any{"kty": "oct", "key_ops": []string{"encrypt", "decrypt"}})
	v.ImportKeyJWK("bitcoin", map[string]any{"kty": "EC", "crv": "P-256K", "x": "AAAA", "y": "AAAA"})
	for name, want := range map[string]string{"symmetric": `unsupported key type "oct"`, "bitcoin": `EC curve "P-256K"`} {
		a := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: name}}})
		err := a.Refresh(context.Background())
		if !errors.Is(err, kmp.ErrUnsupportedKeyType) || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "key "+name+" version "+v.Latest(keyvaultsim.Keys, name)) {
			t.Errorf("%s: %v", name, err)
		}
		if _, kerr := a.Keys(context.Background()); !errors.Is(kerr, kmp.ErrUnsupportedKeyType) {
			t.Errorf("%s: Keys: %v", name, kerr)
		}
	}
}

// A transient failure keeps the last good material; a permanent one
// replaces it; before anything was fetched Keys says so.
func TestAzureKeyVaultTransient(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	ver := createKey(t, v, "cosign-key")
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key"}}})
	if _, err := a.Keys(context.Background()); !errors.Is(err, kmp.ErrNotFetched) {
		t.Errorf("before Refresh: %v", err)
	}
	v.Fail(-1, http.StatusServiceUnavailable)
	if err := a.Refresh(context.Background()); !errors.Is(err, kmp.ErrTransient) {
		t.Errorf("first refresh, 503: %v", err)
	}
	if _, err := a.Keys(context.Background()); !errors.Is(err, kmp.ErrNotFetched) || !strings.Contains(err.Error(), "503") {
		t.Errorf("nothing fetched yet, after a 503: %v", err)
	}
	v.Fail(0, 0)
	refresh(t, a)
	good := a.Version()

	slow, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, c := range []struct {
		what   string
		ctx    context.Context
		status int
		delay  time.Duration
	}{
		{"throttled", context.Background(), http.StatusTooManyRequests, 0},
		{"server error", context.Background(), http.StatusInternalServerError, 0},
		{"unavailable", context.Background(), http.StatusServiceUnavailable, 0},
		{"timeout", slow, 0, 5 * time.Second},
	} {
		if c.status != 0 {
			v.Fail(-1, c.status)
		}
		v.SetLatency(c.delay)
		if err := a.Refresh(c.ctx); !errors.Is(err, kmp.ErrTransient) {
			t.Errorf("%s: %v, want ErrTransient", c.what, err)
		}
		wantVersions(t, c.what+": last good material", keyVersions(t, a), "cosign-key/"+ver)
		if a.Version() != good {
			t.Errorf("%s: version changed", c.what)
		}
		v.Fail(0, 0)
		v.SetLatency(0)
	}

	// A permanent failure stays until a Refresh succeeds, whatever
	// transient failures come between.
	if err := v.SetEnabled(keyvaultsim.Keys, "cosign-key", ver, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Refresh(context.Background()); !errors.Is(err, kmp.ErrDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	v.Fail(-1, http.StatusServiceUnavailable)
	if err := a.Refresh(context.Background()); !errors.Is(err, kmp.ErrTransient) {
		t.Errorf("503 after disabled: %v", err)
	}
	if _, err := a.Keys(context.Background()); !errors.Is(err, kmp.ErrDisabled) {
		t.Errorf("Keys after disabled then 503: %v", err)
	}
}

// Keys and Certificates never call the vault.
func TestAzureKeyVaultReadsDoNotCallTheVault(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	createKey(t, v, "k")
	if _, err := v.CreateCertificate("c", keyvaultsim.CertificateOptions{}); err != nil {
		t.Fatal(err)
	}
	var observed []error
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{
		Keys: []kmp.KeyVaultObject{{Name: "k"}}, Certificates: []kmp.KeyVaultObject{{Name: "c"}},
		Observe: func(d time.Duration, err error) {
			if d <= 0 {
				t.Errorf("observed duration %v", d)
			}
			observed = append(observed, err)
		},
	})
	refresh(t, a)
	if len(observed) != 2 || observed[0] != nil || observed[1] != nil {
		t.Errorf("observed %v, want one success per object", observed)
	}
	n := len(v.Requests())
	for range 3 {
		keys(t, a)
		if _, err := a.Certificates(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.Requests()) != n {
		t.Errorf("Keys/Certificates called the vault: %q", v.Requests()[n:])
	}
}

// A version both pinned and latest is listed once; an object missing
// from the vault, a refused token or a refused challenge are permanent.
func TestAzureKeyVaultPermanentFailures(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	ver := createKey(t, v, "k")
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k", Version: ver}, {Name: "k"}, {Name: "k", Version: ver}}})
	refresh(t, a)
	wantVersions(t, "pinned and latest", keyVersions(t, a), "k/"+ver)

	for what, c := range map[string]struct {
		cfg  kmp.AzureKeyVaultConfig
		want string
	}{
		"missing key":         {kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "gone"}}}, "key gone: the vault answered 404 Not Found: KeyNotFound"},
		"missing version":     {kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k", Version: "0123"}}}, "key k version 0123: the vault answered 404"},
		"missing certificate": {kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "gone"}}}, "certificate gone: the vault answered 404 Not Found: SecretNotFound"},
		"refused token":       {kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k"}}, Credential: keyvaultsim.StaticCredential("stolen")}, "401"},
	} {
		a := newAKV(t, v, c.cfg)
		err := a.Refresh(context.Background())
		if err == nil || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a permanent error saying %q", what, err, c.want)
		}
	}

	// A private cloud whose host does not end in the challenge's resource.
	private := keyvaultsim.Start(t, keyvaultsim.Options{Host: "kv.example.test"})
	createKey(t, private, "k")
	strict := newAKV(t, private, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k"}}})
	if err := strict.Refresh(context.Background()); err == nil || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), "DisableChallengeResourceVerification") {
		t.Errorf("challenge for another domain: %v", err)
	}
	lax := newAKV(t, private, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k"}}, DisableChallengeResourceVerification: true})
	refresh(t, lax)
}

func TestNewAzureKeyVaultConfig(t *testing.T) {
	one := []kmp.KeyVaultObject{{Name: "k"}}
	cred := keyvaultsim.StaticCredential("t")
	for what, c := range map[string]struct {
		cfg  kmp.AzureKeyVaultConfig
		want string
	}{
		"no vault":       {kmp.AzureKeyVaultConfig{Keys: one, Credential: cred}, "vaultURI"},
		"http vault":     {kmp.AzureKeyVaultConfig{VaultURI: "http://v.vault.azure.net", Keys: one, Credential: cred}, "https"},
		"nothing":        {kmp.AzureKeyVaultConfig{VaultURI: "https://v.vault.azure.net"}, "no certificates or keys"},
		"no name":        {kmp.AzureKeyVaultConfig{VaultURI: "https://v.vault.azure.net", Keys: []kmp.KeyVaultObject{{Version: "1"}}, Credential: cred}, "keys[0]: name is required"},
		"negative limit": {kmp.AzureKeyVaultConfig{VaultURI: "https://v.vault.azure.net", Keys: one, VersionHistoryLimit: -1, Credential: cred}, "versionHistoryLimit"},
	} {
		if _, err := kmp.NewAzureKeyVault("akv", c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", what, err, c.want)
		}
	}

	// Without a credential: Azure workload identity, from the pod's
	// environment, which it needs no network to set up.
	for _, env := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	cfg := kmp.AzureKeyVaultConfig{VaultURI: "https://v.vault.azure.net/", TenantID: "t", ClientID: "c", Keys: one}
	if _, err := kmp.NewAzureKeyVault("akv", cfg); err == nil || !strings.Contains(err.Error(), "workload identity") {
		t.Errorf("no federated token file: %v", err)
	}
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", token)
	a, err := kmp.NewAzureKeyVault("akv", cfg)
	if err != nil {
		t.Fatalf("workload identity: %v", err)
	}
	if _, err := a.Keys(context.Background()); !errors.Is(err, kmp.ErrNotFetched) {
		t.Errorf("Keys before Refresh: %v", err)
	}
}
