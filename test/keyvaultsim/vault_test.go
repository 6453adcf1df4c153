package keyvaultsim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

func clients(t *testing.T, v *keyvaultsim.Vault, cred azcore.TokenCredential) (*azsecrets.Client, *azkeys.Client, *azcertificates.Client) {
	t.Helper()
	if cred == nil {
		cred = v.Credential()
	}
	s, err := azsecrets.NewClient(v.URL(), cred, &azsecrets.ClientOptions{ClientOptions: *v.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	k, err := azkeys.NewClient(v.URL(), cred, &azkeys.ClientOptions{ClientOptions: *v.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azcertificates.NewClient(v.URL(), cred, &azcertificates.ClientOptions{ClientOptions: *v.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return s, k, c
}

func statusOf(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// The SDK's challenge flow: a first request without a token, 401 with the
// challenge, then the request again with the token for the tenant and
// resource the challenge named.
func TestChallengeAndToken(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	if v.Host() != "myvault.vault.azure.net" || v.URL() != "https://myvault.vault.azure.net/" {
		t.Fatalf("host %s url %s", v.Host(), v.URL())
	}
	name := "notary"
	v.SetSecret(name, "text/plain", "hello")
	s, _, _ := clients(t, v, nil)
	got, err := s.GetSecret(context.Background(), name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "hello" || got.ID.Name() != name || got.ID.Version() != v.Latest(keyvaultsim.Secrets, name) {
		t.Errorf("secret %+v", got.Secret)
	}
	want := []string{"GET /secrets/notary/ 401", "GET /secrets/notary/ 200"}
	if reqs := v.Requests(); strings.Join(reqs, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests %q, want %q", reqs, want)
	}

	bad, _, _ := clients(t, v, keyvaultsim.StaticCredential("not-the-vault's"))
	if _, err := bad.GetSecret(context.Background(), name, "", nil); func() bool { c, _ := statusOf(err); return c != 401 }() {
		t.Errorf("a foreign token: %v, want 401", err)
	}
}

// A vault whose host does not end in the challenge's resource is refused
// by the SDK unless challenge resource verification is disabled.
func TestChallengeResourceVerification(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{Host: "kv.example.test"})
	v.SetSecret("s", "text/plain", "x")
	strict, err := azsecrets.NewClient(v.URL(), v.Credential(), &azsecrets.ClientOptions{ClientOptions: *v.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.GetSecret(context.Background(), "s", "", nil); err == nil || !strings.Contains(err.Error(), "DisableChallengeResourceVerification") {
		t.Errorf("strict client: %v", err)
	}
	lax, _ := azsecrets.NewClient(v.URL(), v.Credential(), &azsecrets.ClientOptions{ClientOptions: *v.ClientOptions(), DisableChallengeResourceVerification: true})
	if _, err := lax.GetSecret(context.Background(), "s", "", nil); err != nil {
		t.Errorf("lax client: %v", err)
	}
}

func TestKeysAsJWK(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	_, k, _ := clients(t, v, nil)
	for _, c := range []struct {
		alg sample.KeyAlgorithm
		hsm bool
		kty azkeys.KeyType
	}{
		{sample.RSA2048, false, azkeys.KeyTypeRSA},
		{sample.RSA3072, true, azkeys.KeyTypeRSAHSM},
		{sample.ECDSAP256, false, azkeys.KeyTypeEC},
		{sample.ECDSAP521, true, azkeys.KeyTypeECHSM},
	} {
		ver, priv, err := v.CreateKey("k", keyvaultsim.KeyOptions{Algorithm: c.alg, HSM: c.hsm})
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.GetKey(context.Background(), "k", ver, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Key.Kty != c.kty || got.Key.KID.Version() != ver || !*got.Attributes.Enabled {
			t.Errorf("%s: %s %s", c.alg, *got.Key.Kty, got.Key.KID.Version())
		}
		switch pub := priv.Public().(type) {
		case *rsa.PublicKey:
			if new(big.Int).SetBytes(got.Key.N).Cmp(pub.N) != 0 || new(big.Int).SetBytes(got.Key.E).Int64() != int64(pub.E) {
				t.Errorf("%s: n or e differ", c.alg)
			}
		case *ecdsa.PublicKey:
			if new(big.Int).SetBytes(got.Key.X).Cmp(pub.X) != 0 || new(big.Int).SetBytes(got.Key.Y).Cmp(pub.Y) != 0 || string(*got.Key.Crv) != pub.Curve.Params().Name {
				t.Errorf("%s: x, y or crv differ", c.alg)
			}
		}
	}
}

// A certificate is a certificate, a key and a secret of one version; the
// secret holds the chain, with the key only when it is exportable.
func TestCertificateSecrets(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	s, k, certs := clients(t, v, nil)
	ctx := context.Background()
	for _, c := range []struct {
		contentType string
		exportable  bool
	}{
		{keyvaultsim.ContentTypePKCS12, true}, {keyvaultsim.ContentTypePKCS12, false},
		{keyvaultsim.ContentTypePEM, true}, {keyvaultsim.ContentTypePEM, false},
	} {
		cert, err := v.CreateCertificate("signer", keyvaultsim.CertificateOptions{ContentType: c.contentType, NonExportable: !c.exportable})
		if err != nil {
			t.Fatal(err)
		}
		sec, err := s.GetSecret(ctx, "signer", cert.Version, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *sec.ContentType != c.contentType || !*sec.Managed || sec.KID.Version() != cert.Version {
			t.Errorf("%+v: secret %s managed %v kid %s", c, *sec.ContentType, *sec.Managed, *sec.KID)
		}
		switch c.contentType {
		case keyvaultsim.ContentTypePKCS12:
			der, err := base64.StdEncoding.DecodeString(*sec.Value)
			if err != nil {
				t.Fatal(err)
			}
			key, leaf, chain, err := pkcs12.DecodeChain(der, "")
			switch {
			case c.exportable && (err != nil || key == nil || !leaf.Equal(cert.Leaf) || len(chain) != 1 || !chain[0].Equal(cert.CA)):
				t.Errorf("exportable PKCS#12: %v", err)
			case !c.exportable && err == nil:
				t.Errorf("PKCS#12 without its key decoded as a chain with a key")
			}
		case keyvaultsim.ContentTypePEM:
			hasKey := strings.Contains(*sec.Value, "PRIVATE KEY")
			if hasKey != c.exportable || strings.Count(*sec.Value, "BEGIN CERTIFICATE") != 2 {
				t.Errorf("PEM secret exportable %v: %s", c.exportable, *sec.Value)
			}
		}
		got, err := certs.GetCertificate(ctx, "signer", cert.Version, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.CER) != string(cert.Leaf.Raw) || *got.Policy.KeyProperties.Exportable != c.exportable ||
			*got.Policy.SecretProperties.ContentType != c.contentType || got.SID.Version() != cert.Version {
			t.Errorf("%+v: certificate bundle %+v", c, got.Certificate)
		}
		key, err := k.GetKey(ctx, "signer", cert.Version, nil)
		if err != nil || *key.Key.Kty != azkeys.KeyTypeEC || !*key.Managed {
			t.Errorf("certificate's key: %v", err)
		}
	}
	pager := certs.NewListCertificatePropertiesVersionsPager("signer", nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 4 {
		t.Errorf("%d certificate versions listed, want 4", n)
	}
}

// Disabled objects answer as the service does: a secret 403 Forbidden /
// SecretDisabled, a key or certificate its bundle with enabled false (or,
// if asked, a key 403 KeyDisabled).
func TestDisabled(t *testing.T) {
	ctx := context.Background()
	for _, forbidKeys := range []bool{false, true} {
		v := keyvaultsim.Start(t, keyvaultsim.Options{DisabledKeysForbidden: forbidKeys})
		s, k, certs := clients(t, v, nil)
		cert, err := v.CreateCertificate("c", keyvaultsim.CertificateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.SetEnabled(keyvaultsim.Certificates, "c", cert.Version, false); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetSecret(ctx, "c", cert.Version, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "Forbidden" || !strings.Contains(err.Error(), "SecretDisabled") {
			t.Errorf("disabled secret: %v", err)
		}
		got, err := certs.GetCertificate(ctx, "c", "", nil)
		if err != nil || *got.Attributes.Enabled {
			t.Errorf("disabled certificate: %v", err)
		}
		key, err := k.GetKey(ctx, "c", "", nil)
		if forbidKeys {
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "KeyDisabled") {
				t.Errorf("disabled key, forbidden: %v", err)
			}
		} else if err != nil || *key.Attributes.Enabled {
			t.Errorf("disabled key: %v", err)
		}
		if err := v.SetEnabled(keyvaultsim.Keys, "missing", "", false); !errors.Is(err, keyvaultsim.ErrNotFound) {
			t.Errorf("SetEnabled of a missing key: %v", err)
		}
	}
}

func TestVersionsPaged(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{PageSize: 1})
	_, k, _ := clients(t, v, nil)
	want := map[string]bool{}
	for range 3 {
		ver, _, err := v.CreateKey("rotated", keyvaultsim.KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want[ver] = true
	}
	pager := k.NewListKeyPropertiesVersionsPager("rotated", nil)
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range page.Value {
			if !want[p.KID.Version()] || p.Attributes.Created == nil {
				t.Errorf("listed %s", *p.KID)
			}
			delete(want, p.KID.Version())
		}
	}
	if pages != 3 || len(want) != 0 {
		t.Errorf("%d pages, not listed %v", pages, want)
	}
}

func TestFailuresAndErrors(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	s, _, _ := clients(t, v, nil)
	ctx := context.Background()
	v.SetSecret("s", "text/plain", "x")
	if _, err := s.GetSecret(ctx, "missing", "", nil); func() bool { c, code := statusOf(err); return c != 404 || code != "SecretNotFound" }() {
		t.Errorf("missing secret: %v", err)
	}
	// Three 503s outlast the two retries of ClientOptions; two do not.
	v.Fail(3, http.StatusServiceUnavailable)
	if _, err := s.GetSecret(ctx, "s", "", nil); func() bool { c, _ := statusOf(err); return c != 503 }() {
		t.Errorf("503: %v", err)
	}
	v.Fail(2, http.StatusInternalServerError)
	if _, err := s.GetSecret(ctx, "s", "", nil); err != nil {
		t.Errorf("retried 500s: %v", err)
	}
	// A Retry-After beyond the retry cap surfaces the 429 at once.
	v.Fail(1, http.StatusTooManyRequests)
	if _, err := s.GetSecret(ctx, "s", "", nil); func() bool { c, code := statusOf(err); return c != 429 || code != "Throttled" }() {
		t.Errorf("429: %v", err)
	}
	v.Forbid(keyvaultsim.Secrets, "list", true)
	_, err := s.NewListSecretPropertiesVersionsPager("s", nil).NextPage(ctx)
	if c, _ := statusOf(err); c != 403 || !strings.Contains(err.Error(), "ForbiddenByRbac") {
		t.Errorf("forbidden list: %v", err)
	}
	// The transport reaches the vault and nothing else.
	if _, err := v.HTTPClient().Get("https://www.example.com/"); err == nil || !strings.Contains(err.Error(), "not the simulated vault") {
		t.Errorf("another host: %v", err)
	}
}
