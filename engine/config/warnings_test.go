package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

const apiVersion = "apiVersion: config.ratify.deislabs.io/v1beta1\n"

// unknownFieldCases: a field ratify ignores is reported with its path, and
// the resource loads all the same (Ratify ignores such fields too).
var unknownFieldCases = []struct {
	name, doc string
	want      []string
}{
	{"top level", apiVersion + "kind: Store\nmetadata: {name: store-oras}\nspce: {name: oras}\nspec: {name: oras}",
		[]string{`Store store-oras: unknown field "spce"`}},
	{"metadata", apiVersion + "kind: Store\nmetadata: {name: store-oras, namepsace: x}\nspec: {name: oras}",
		[]string{`Store store-oras: unknown field "metadata.namepsace"`}},
	{"spec", apiVersion + "kind: Store\nmetadata: {name: store-oras}\nspec: {name: oras, bogus: 1}",
		[]string{`Store store-oras: unknown field "spec.bogus"`}},
	{"spec.parameters", apiVersion + "kind: Store\nmetadata: {name: store-oras}\nspec:\n  name: oras\n  parameters:\n    cosignEnabld: true\n    useHttp: true",
		[]string{`Store store-oras: unknown field "spec.parameters.cosignEnabld"`}},
	{"nested in spec.parameters", apiVersion + "kind: Store\nmetadata: {name: s}\nspec:\n  name: oras\n  parameters:\n    authProvider: {name: azureWorkloadIdentity, clientID: x, tenantID: y}",
		[]string{`Store s: unknown field "spec.parameters.authProvider.tenantID"`}},
	{"in a list in spec.parameters", apiVersion + "kind: NamespacedVerifier\nmetadata: {name: v, namespace: team-a}\nspec:\n  name: cosign\n  artifactTypes: t\n" +
		"  parameters:\n    trustPolicies:\n      - name: a\n        scopes: ['*']\n        keys: [{provider: team-a/k, versoin: '1'}]",
		[]string{`NamespacedVerifier team-a/v: unknown field "spec.parameters.trustPolicies[0].keys[0].versoin"`}},
	{"each one", apiVersion + "kind: KeyManagementProvider\nmetadata: {name: k}\nextra: 1\nspec: {type: inline, refresh: 1h, parameters: {contentType: key, value: v, valeu: w}}",
		[]string{`KeyManagementProvider k: unknown field "extra"`, `KeyManagementProvider k: unknown field "spec.refresh"`,
			`KeyManagementProvider k: unknown field "spec.parameters.valeu"`}},
}

func TestLoadWarnings(t *testing.T) {
	for _, c := range unknownFieldCases {
		res, err := Load(strings.NewReader(c.doc))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Join(res.Warnings, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: warnings\n%q\nwant\n%q", c.name, res.Warnings, c.want)
		}
		if len(objects(res)) != 1 {
			t.Errorf("%s: the resource was not loaded: %+v", c.name, res)
		}
	}
	// The settings given beside a typo are kept.
	res, err := Load(strings.NewReader(unknownFieldCases[3].doc))
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := res.StoreConfigs()
	if err != nil || len(cfgs) != 1 || !cfgs[0].PlainHTTP || cfgs[0].CosignEnabled {
		t.Errorf("store with a typo: %+v %v", cfgs, err)
	}
}

// Warn logs the ignored fields where the skipped documents are logged.
func TestWarnLogsWarnings(t *testing.T) {
	res, err := Load(strings.NewReader(unknownFieldCases[3].doc + "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res.Warn(slog.New(slog.NewTextHandler(&buf, nil)))
	for _, want := range []string{"Namespace", `spec.parameters.cosignEnabld`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q does not mention %s", buf.String(), want)
		}
	}
}

// guideVars fill in what the guide's shell sets.
var guideVars = map[string]string{
	"IDENTITY_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
	"CERT_PEM":           `"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"`,
	"KEY_PEM":            `"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"`,
	"SUBJECT_DN":         "CN=ratify-test",
}

// The "Ratify on Azure" guide's YAML loads with no warning, and every
// resource's parameters decode and validate.
func TestGuideSamplesLoad(t *testing.T) {
	workloadIdentityEnv(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "cmd", "ratify", "testdata", "guide", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("guide samples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc := os.Expand(string(b), func(k string) string {
			v, ok := guideVars[k]
			if !ok {
				t.Fatalf("%s uses ${%s}", f, k)
			}
			return v
		})
		res, err := Load(strings.NewReader(doc))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		objs := objects(res)
		if len(objs) != 1 || len(res.Warnings) != 0 || len(res.Skipped) != 0 {
			t.Errorf("%s: %d resources, warnings %q, skipped %q", f, len(objs), res.Warnings, res.Skipped)
		}
		for _, obj := range objs {
			if p, w, err := v1beta1.Parameters(obj); p == nil || len(w) != 0 || err != nil {
				t.Errorf("%s: parameters %#v, warnings %q, %v", f, p, w, err)
			}
		}
		if _, err := res.StoreConfigs(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// A Store's parameters reach oras as they did: same errors.
func TestStoreConfigErrors(t *testing.T) {
	for _, c := range []struct{ typ, params, want string }{
		{"s3", `{}`, "unknown store"},
		{"oras", `{"authProvider": {"name": "magic"}}`, "unknown authProvider"},
		{"oras", `{"useHttp": "yes"}`, "parameters"},
		{"oras", `{"referrersCacheTTL": "soon"}`, "referrersCacheTTL"},
		{"oras", `{"authProvider": {"name": "static", "username": "u", "password": "p"}}`, "authProvider.hosts"},
		{"oras", `{"authProvider": {"name": "static", "username": "u", "hosts": ["https://r.io"]}}`, "authProvider.hosts"},
	} {
		s := v1beta1.Store{Spec: v1beta1.StoreSpec{Name: c.typ, Parameters: runtime.RawExtension{Raw: []byte(c.params)}}}
		s.Name = "s"
		if _, err := StoreConfig(s); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `store "s"`) {
			t.Errorf("%s %s: %v, want an error about %s", c.typ, c.params, err, c.want)
		}
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	s := v1beta1.Store{Spec: v1beta1.StoreSpec{Name: "oras", Parameters: runtime.RawExtension{Raw: []byte(
		`{"useHttp": true, "cosignEnabled": true, "caFile": "/ca.pem", "referrersCacheTTL": "0s", "scopes": ["r.io/*"],
		  "authProvider": {"name": "static", "username": "u", "password": "p"}}`)}}}
	cfg, err := StoreConfig(s)
	if err != nil || !cfg.PlainHTTP || !cfg.CosignEnabled || cfg.CAFile != "/ca.pem" || cfg.ReferrersTTL != -1 || len(cfg.Scopes) != 1 || cfg.Auth == nil {
		t.Errorf("%+v %v", cfg, err)
	}
}

// objects are the resources of res, as typed objects.
func objects(res *Resources) []runtime.Object {
	var out []runtime.Object
	for i := range res.Stores {
		out = append(out, &res.Stores[i])
	}
	for i := range res.NamespacedStores {
		out = append(out, &res.NamespacedStores[i])
	}
	for i := range res.Verifiers {
		out = append(out, &res.Verifiers[i])
	}
	for i := range res.NamespacedVerifiers {
		out = append(out, &res.NamespacedVerifiers[i])
	}
	for i := range res.KMPs {
		out = append(out, &res.KMPs[i])
	}
	for i := range res.NamespacedKMPs {
		out = append(out, &res.NamespacedKMPs[i])
	}
	for i := range res.Policies {
		out = append(out, &res.Policies[i])
	}
	for i := range res.NamespacedPolicies {
		out = append(out, &res.NamespacedPolicies[i])
	}
	for i := range res.CertificateStores {
		out = append(out, &res.CertificateStores[i])
	}
	return out
}

// TestRepeatedKeysWarn: a key repeated in one mapping (the guide's
// rotation YAML lists two versions in one item) loads with its last value,
// and a warning says so with the line.
func TestRepeatedKeysWarn(t *testing.T) {
	t.Parallel()
	res, err := Load(strings.NewReader(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: akv}
spec:
  type: azurekeyvault
  parameters:
    vaultURI: https://myvault.vault.azure.net/
    tenantID: t
    clientID: c
    keys:
      - name: k
        version: v1
        version: v2
`))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(res.Warnings, "\n")
	if !strings.Contains(w, `KeyManagementProvider akv: line 13: key "version" already set in map; the last value of a repeated key is the one used`) {
		t.Fatalf("warnings: %q", res.Warnings)
	}
}
