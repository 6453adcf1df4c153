package v1beta1

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// validateCase is one spec.parameters (JSON) and the problems Validate
// finds: none, or each of want in the error.
type validateCase struct {
	name   string
	params string
	want   []string
}

// checkValidate decodes each case as T and checks Validate's verdict.
func checkValidate[T Validator](t *testing.T, cases []validateCase) {
	t.Helper()
	for _, c := range cases {
		_, _, err := DecodeParameters[T](runtime.RawExtension{Raw: []byte(c.params)})
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: %s: %v", c.name, c.params, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidParameters) || errors.Is(err, ErrMalformedParameters) {
			t.Errorf("%s: %s: %v, want ErrInvalidParameters", c.name, c.params, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %s: %q does not say %q", c.name, c.params, err, w)
			}
		}
	}
}

func TestStoreParametersValidate(t *testing.T) {
	checkValidate[StoreParameters](t, []validateCase{
		{"empty", ``, nil},
		{"guide", `{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "id"}, "cosignEnabled": true}`, nil},
		{"layout", `{"path": "./fixtures", "scopes": ["myregistry.io/*"]}`, nil},
		{"docker config", `{"authProvider": {"name": "dockerConfig", "configPath": "/c.json"}, "useHttp": true}`, nil},
		{"static", `{"authProvider": {"name": "static", "username": "u", "password": "p", "hosts": ["r.io"]}}`, nil},
		{"k8s secrets", `{"authProvider": {"name": "k8Secrets", "serviceAccountName": "sa", "secrets": [{"secretName": "s", "namespace": "n"}]}}`, nil},
		{"ttl", `{"referrersCacheTTL": "0s"}`, nil},
		{"bad ttl", `{"referrersCacheTTL": "soon"}`, []string{`spec.parameters.referrersCacheTTL: time: invalid duration "soon"`}},
		{"unknown provider", `{"authProvider": {"name": "magic"}}`, []string{`spec.parameters.authProvider.name: unknown authProvider "magic"`}},
		{"static without username", `{"authProvider": {"name": "static", "hosts": ["r.io"]}}`, []string{"spec.parameters.authProvider.username is required"}},
		{"every problem", `{"referrersCacheTTL": "x", "authProvider": {"name": "magic"}}`, []string{"referrersCacheTTL", "authProvider.name"}},
	})
}

func TestInlineParametersValidate(t *testing.T) {
	checkValidate[InlineParameters](t, []validateCase{
		{"key", `{"contentType": "key", "value": "PEM"}`, nil},
		{"certificate", `{"contentType": "certificate", "value": "PEM"}`, nil},
		{"no content type", `{"value": "PEM"}`, []string{`spec.parameters.contentType is required: "key" or "certificate"`}},
		{"other content type", `{"contentType": "secret", "value": "PEM"}`, []string{`spec.parameters.contentType "secret": want "key" or "certificate"`}},
		{"no value", `{"contentType": "key", "value": "  "}`, []string{"spec.parameters.value is empty"}},
		{"no parameters", ``, []string{"spec.parameters.contentType is required", "spec.parameters.value is empty"}},
	})
}

func TestAzureKeyVaultParametersValidate(t *testing.T) {
	checkValidate[AzureKeyVaultParameters](t, []validateCase{
		{"docs", `{"vaultURI": "https://v.vault.azure.net/", "tenantID": "t", "clientID": "c",
			"certificates": [{"name": "cert", "version": "1"}], "keys": [{"name": "key"}]}`, nil},
		{"required", `{"certificates": [{"name": "c"}]}`, []string{"spec.parameters.vaultURI is required", "spec.parameters.tenantID is required", "spec.parameters.clientID is required"}},
		{"nothing to fetch", `{"vaultURI": "v", "tenantID": "t", "clientID": "c"}`, []string{"give certificates or keys"}},
		{"names", `{"vaultURI": "v", "tenantID": "t", "clientID": "c", "certificates": [{"version": "1"}], "keys": [{"name": "k"}, {"version": "2"}]}`,
			[]string{"spec.parameters.certificates[0].name is required", "spec.parameters.keys[1].name is required"}},
	})
	spec := KeyManagementProviderSpec{Type: KMPAzureKeyVault, RefreshInterval: "1hour",
		Parameters: runtime.RawExtension{Raw: []byte(`{"vaultURI": "v", "tenantID": "t", "clientID": "c", "keys": [{"name": "k"}]}`)}}
	if _, _, err := spec.AzureKeyVaultParameters(); err == nil || !strings.Contains(err.Error(), "spec.refreshInterval") {
		t.Errorf("refreshInterval 1hour: %v", err)
	}
	spec.RefreshInterval = "1h30m"
	if _, _, err := spec.AzureKeyVaultParameters(); err != nil {
		t.Errorf("refreshInterval 1h30m: %v", err)
	}
}

func TestCertificateStoreParametersValidate(t *testing.T) {
	checkValidate[CertificateStoreParameters](t, []validateCase{
		{"value", `{"value": "PEM"}`, nil},
		{"no value", `{}`, []string{"spec.parameters.value is empty"}},
	})
}

func TestNotationParametersValidate(t *testing.T) {
	doc := `"trustPolicyDoc": {"version": "1.0", "trustPolicies": []}`
	checkValidate[NotationParameters](t, []validateCase{
		{"flat", `{"verificationCertStores": {"certs": ["kmp"]}, ` + doc + `}`, nil},
		{"nested", `{"verificationCertStores": {"ca": {"certs": ["kmp"]}, "tsa": {"t": ["kmp2"]}}, ` + doc + `}`, nil},
		{"guide's certs beside", `{"verificationCertStores": null, "certs": ["kmp"], ` + doc + `}`, nil},
		{"no trust policy", `{"verificationCertStores": {"certs": ["kmp"]}}`, []string{"spec.parameters.trustPolicyDoc is required"}},
		{"bad store", `{"verificationCertStores": {"certs": {"x": ["kmp"]}}, ` + doc + `}`, []string{"spec.parameters.verificationCertStores.certs: want a list"}},
		{"bad guide's certs", `{"certs": "kmp", ` + doc + `}`, []string{"spec.parameters.certs: want a list"}},
	})
}

func TestCosignParametersValidate(t *testing.T) {
	checkValidate[CosignParameters](t, []validateCase{
		{"guide", `{"trustPolicies": [{"name": "default", "scopes": ["*"], "keys": [{"provider": "kmp"}]}]}`, nil},
		{"key version", `{"trustPolicies": [{"name": "t", "version": "1.0.0", "scopes": ["r.io/*"], "tLogVerify": true,
			"keys": [{"provider": "kmp", "name": "k", "version": "2"}]}]}`, nil},
		{"none", `{}`, []string{"spec.parameters.trustPolicies is required"}},
		{"legacy key", `{"key": "/keys/cosign.pub"}`, []string{"spec.parameters.trustPolicies is required", "spec.parameters.key"}},
		{"no keys", `{"trustPolicies": [{"name": "a", "scopes": ["*"]}]}`, []string{`spec.parameters.trustPolicies[0].keys: trust policy "a" has no keys`}},
		{"keyless", `{"trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"provider": "k"}], "keyless": {"certificateIdentity": "x"}}]}`,
			[]string{`spec.parameters.trustPolicies[0].keyless: trust policy "a": keyless verification is not supported yet`}},
		{"key without provider", `{"trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"name": "k"}]}]}`, []string{"spec.parameters.trustPolicies[0].keys[0].provider is required"}},
		{"key file", `{"trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"file": "/k.pub"}]}]}`, []string{"spec.parameters.trustPolicies[0].keys[0].file"}},
	})
}

func TestPolicyParametersValidate(t *testing.T) {
	checkValidate[ConfigPolicyParameters](t, []validateCase{
		{"defaults", ``, nil},
		{"modes", `{"artifactVerificationPolicies": {"default": "all", "application/vnd.cncf.notary.signature": " Any "}, "passthroughEnabled": false}`, nil},
		{"bad mode", `{"artifactVerificationPolicies": {"t": "some"}}`, []string{`spec.parameters.artifactVerificationPolicies["t"] is "some": want "any" or "all"`}},
	})
	checkValidate[RegoParameters](t, []validateCase{
		{"policy", `{"policy": "package ratify.policy\ndefault allow := false"}`, nil},
		{"none", `{}`, []string{"spec.parameters.policy is required"}},
	})
	checkValidate[RatifyRegoParameters](t, []validateCase{
		{"policy", `{"policy": "package ratify.policy", "passthroughEnabled": true}`, nil},
		{"path", `{"policyPath": "/p.rego"}`, []string{"spec.parameters.policyPath is not supported"}},
		{"none", `{}`, []string{"spec.parameters.policy is required"}},
	})
	checkValidate[CELParameters](t, []validateCase{
		{"validations", `{"validations": [{"expression": "true", "message": "m"}]}`, nil},
		{"none", `{"validations": []}`, []string{"spec.parameters.validations is required"}},
		{"empty expression", `{"validations": [{"message": "m"}]}`, []string{"spec.parameters.validations[0].expression is required"}},
	})
}

// Values decode as Ratify decodes them: names in any case; a value of the
// wrong type is malformed.
func TestDecodeParametersValues(t *testing.T) {
	p, warnings, err := DecodeParameters[StoreParameters](runtime.RawExtension{Raw: []byte(`{"UseHTTP": true, "cosignenabled": true, "Scopes": ["r.io/*"]}`)})
	if err != nil || len(warnings) != 0 || !p.UseHTTP || !p.CosignEnabled || len(p.Scopes) != 1 {
		t.Errorf("case-insensitive names: %+v %q %v", p, warnings, err)
	}
	_, _, err = DecodeParameters[StoreParameters](runtime.RawExtension{Raw: []byte(`{"useHttp": "yes"}`)})
	if !errors.Is(err, ErrMalformedParameters) || !strings.HasPrefix(err.Error(), "spec.parameters: ") {
		t.Errorf("useHttp yes: %v", err)
	}
	// A value set in code (no Raw) decodes too.
	p, _, err = DecodeParameters[StoreParameters](runtime.RawExtension{Object: &runtime.Unknown{Raw: []byte(`{"useHttp": true}`)}})
	if err != nil || !p.UseHTTP {
		t.Errorf("from an object: %+v %v", p, err)
	}
	// An invalid value is returned with its problems, for callers that go on.
	c, _, err := DecodeParameters[CosignParameters](runtime.RawExtension{Raw: []byte(`{"trustPolicies": [{"name": "a"}]}`)})
	if !errors.Is(err, ErrInvalidParameters) || len(c.TrustPolicies) != 1 {
		t.Errorf("invalid value: %+v %v", c, err)
	}
	var problems []string
	EachProblem(err, func(e error) { problems = append(problems, e.Error()) })
	if len(problems) != 1 || !strings.Contains(problems[0], "has no keys") {
		t.Errorf("problems %q", problems)
	}
}

// Unknown fields of spec.parameters are warnings with their path, at any
// depth; free-form values (a trust policy document) are not looked into.
func TestDecodeParametersUnknownFields(t *testing.T) {
	for _, c := range []struct {
		name, params string
		decode       func([]byte) ([]string, error)
		want         []string
	}{
		{"top level", `{"cosignEnabld": true, "useHttp": true}`, decodeAs[StoreParameters], []string{"spec.parameters.cosignEnabld"}},
		{"nested object", `{"authProvider": {"name": "static", "usrname": "u", "hosts": ["r.io"]}}`, decodeAs[StoreParameters], []string{"spec.parameters.authProvider.usrname"}},
		{"in a list", `{"trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"provider": "k"}, {"provider": "k", "nmae": "x"}]}]}`,
			decodeAs[CosignParameters], []string{"spec.parameters.trustPolicies[0].keys[1].nmae"}},
		{"several, sorted", `{"value": "v", "contentType": "key", "type": "inline", "Extra": 1}`, decodeAs[InlineParameters],
			[]string{"spec.parameters.Extra", "spec.parameters.type"}},
		{"refreshInterval belongs to spec", `{"vaultURI": "v", "tenantID": "t", "clientID": "c", "keys": [{"name": "k"}], "refreshInterval": "1h"}`,
			decodeAs[AzureKeyVaultParameters], []string{"spec.parameters.refreshInterval"}},
		{"free-form document", `{"trustPolicyDoc": {"anything": {"goes": 1}}, "verificationCertStores": {"ca": {"certs": ["k"]}}}`, decodeAs[NotationParameters], nil},
		{"map values", `{"artifactVerificationPolicies": {"any-type": "any"}}`, decodeAs[ConfigPolicyParameters], nil},
		{"policy of another type", `{"policy": "package p", "validations": []}`, decodeAs[RegoParameters], []string{"spec.parameters.validations"}},
	} {
		warnings, err := c.decode([]byte(c.params))
		if err != nil && !errors.Is(err, ErrInvalidParameters) {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var want []string
		for _, w := range c.want {
			want = append(want, `unknown field "`+w+`"`)
		}
		if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: warnings %q, want %q", c.name, warnings, want)
		}
	}
}

func decodeAs[T Validator](raw []byte) ([]string, error) {
	_, warnings, err := DecodeParameters[T](runtime.RawExtension{Raw: raw})
	return warnings, err
}
