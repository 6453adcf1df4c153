package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Key management providers are built from their typed parameters: a
// valid one serves its keys, a broken one is registered as failing with
// the field that is wrong (azurekeyvault's included).
func TestBuildKMPFromTypedParameters(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := sample.PublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := json.Marshal(pub)
	doc := `apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: good}
spec: {type: inline, parameters: {contentType: key, value: ` + string(q) + `}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: no-content-type}
spec: {type: inline, parameters: {value: ` + string(q) + `}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: akv, namespace: team-a}
spec: {type: azurekeyvault, parameters: {vaultURI: "https://v.vault.example.com/"}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: CertificateStore
metadata: {name: certs}
spec: {provider: inline, parameters: {}}
`
	res, err := config.Load(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := buildKMP(context.Background(), res, "ratify", nil, ProviderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if keys, err := reg.Keys(ctx, "good", ""); err != nil || len(keys) != 1 || keys[0].Provider != "good" {
		t.Errorf("good: %+v %v", keys, err)
	}
	if _, err := reg.Keys(ctx, "no-content-type", ""); err == nil || !strings.Contains(err.Error(), `spec.parameters.contentType is required: "key" or "certificate"`) {
		t.Errorf("no-content-type: %v", err)
	}
	if _, err := reg.Keys(ctx, "team-a/akv", "team-a"); err == nil || !strings.Contains(err.Error(), "spec.parameters.tenantID is required") {
		t.Errorf("akv: %v, want its parameters' problem", err)
	}
	if _, err := reg.Certificates(ctx, "certs", ""); err == nil || !strings.Contains(err.Error(), "spec.parameters.value is empty") {
		t.Errorf("certificate store: %v", err)
	}
	warnings := strings.Join(reg.Warnings(), "\n")
	for _, want := range []string{
		"key management provider no-content-type: spec.parameters.contentType is required",
		"key management provider team-a/akv: spec.parameters.tenantID is required",
		"CertificateStore ratify/certs is deprecated",
		"CertificateStore certs: spec.parameters.value is empty",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings %q do not say %q", warnings, want)
		}
	}
}

// Two resources claiming one name are still a configuration error.
func TestBuildKMPDuplicate(t *testing.T) {
	kmpDoc := "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: KeyManagementProvider\nmetadata: {name: k}\nspec: {type: inline, parameters: {contentType: key, value: x}}\n"
	res, err := config.Load(strings.NewReader(kmpDoc + "---\n" + kmpDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buildKMP(context.Background(), res, "ratify", nil, ProviderOptions{}); !errors.Is(err, kmp.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
}

// A CertificateStore in ratify's namespace named like a
// KeyManagementProvider is left out, as Ratify does (the provider takes
// precedence), with a warning; the configuration still builds, so a later
// change (one that removes trust) is not held back by the clash.
func TestCertificateStoreNamedLikeKMP(t *testing.T) {
	keyPEM, err := sample.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	pki, err := sample.NewPKI(sample.Options{})
	if err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(keyPEM.PublicPEM())
	certs, _ := json.Marshal(pki.CAPEM())
	res, err := config.Load(strings.NewReader(fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: shared}
spec: {type: inline, parameters: {contentType: key, value: %s}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: CertificateStore
metadata: {name: shared, namespace: ratify}
spec: {provider: inline, parameters: {value: %s}}
`, value, certs)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := buildKMP(context.Background(), res, "ratify", nil, ProviderOptions{})
	if err != nil {
		t.Fatalf("a name clash failed the whole configuration: %v", err)
	}
	if keys, err := reg.Keys(context.Background(), "shared", ""); err != nil || len(keys) != 1 {
		t.Errorf("the KeyManagementProvider's keys: %+v %v", keys, err)
	}
	if c, err := reg.Certificates(context.Background(), "shared", ""); err != nil || len(c) != 0 {
		t.Errorf("the name gave the CertificateStore's certificates: %d %v", len(c), err)
	}
	if w := strings.Join(reg.Warnings(), "\n"); !strings.Contains(w, "the KeyManagementProvider shared takes precedence") {
		t.Errorf("warnings %q do not say the CertificateStore is left out", w)
	}
}

// TestTenantCannotDisableVaultChallengeCheck: a tenant's provider may not
// turn off the check that keeps ratify's vault token from a look-alike
// host; the operator's cluster provider may.
func TestTenantCannotDisableVaultChallengeCheck(t *testing.T) {
	t.Setenv("AZURE_TENANT_ID", "t")
	t.Setenv("AZURE_CLIENT_ID", "c")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(t.TempDir(), "token"))
	t.Setenv("AZURE_AUTHORITY_HOST", "https://login.example/")
	params := `{vaultURI: "https://vault.attacker.example/", tenantID: t, clientID: c, keys: [{name: k}], disableChallengeResourceVerification: true}`
	res, err := config.Load(strings.NewReader(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: akv, namespace: tenant}
spec: {type: azurekeyvault, parameters: ` + params + `}
`))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := buildKMP(context.Background(), res, "ratify", nil, ProviderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Keys(context.Background(), "tenant/akv", "tenant"); err == nil || !strings.Contains(err.Error(), "allowed only on a cluster KeyManagementProvider") {
		t.Fatalf("tenant's provider: %v", err)
	}
	build := kmpTypes[v1beta1.KMPAzureKeyVault]
	spec := res.NamespacedKMPs[0].Spec
	if _, err := build("akv", spec, ProviderOptions{}); err != nil && strings.Contains(err.Error(), "allowed only on a cluster") {
		t.Fatalf("the cluster's provider may disable the check: %v", err)
	}
}
