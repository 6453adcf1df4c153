package v1beta1

import (
	"strings"
	"testing"
)

const head = "apiVersion: config.ratify.deislabs.io/v1beta1\n"

// Unknown fields anywhere in a resource are warnings naming the resource
// and the field's path; the resource still decodes, with what it has.
func TestDecodeUnknownFields(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"none", head + "kind: Store\nmetadata: {name: s}\nspec: {name: oras, parameters: {useHttp: true}}", nil},
		{"top level", head + "kind: Store\nmetadata: {name: s}\nbogus: 1\nspec: {name: oras}",
			[]string{`Store s: unknown field "bogus"`}},
		{"metadata", head + "kind: Store\nmetadata: {name: s, labelz: {a: b}}\nspec: {name: oras}",
			[]string{`Store s: unknown field "metadata.labelz"`}},
		{"spec", head + "kind: Store\nmetadata: {name: s}\nspec: {name: oras, bogus: 1}",
			[]string{`Store s: unknown field "spec.bogus"`}},
		{"spec.parameters", head + "kind: Store\nmetadata: {name: store-oras}\nspec: {name: oras, parameters: {cosignEnabld: true}}",
			[]string{`Store store-oras: unknown field "spec.parameters.cosignEnabld"`}},
		{"namespaced store parameters", head + "kind: NamespacedStore\nmetadata: {name: s, namespace: team-a}\nspec: {name: oras, parameters: {cosignEnabld: true}}",
			[]string{`NamespacedStore team-a/s: unknown field "spec.parameters.cosignEnabld"`}},
		{"nested parameters, namespaced", head + "kind: NamespacedVerifier\nmetadata: {name: v, namespace: team-a}\n" +
			"spec:\n  name: cosign\n  artifactTypes: t\n  parameters:\n    trustPolicies: [{name: a, scopes: ['*'], keys: [{provider: k, nmae: x}]}]",
			[]string{`NamespacedVerifier team-a/v: unknown field "spec.parameters.trustPolicies[0].keys[0].nmae"`}},
		{"every level at once", head + "kind: KeyManagementProvider\nmetadata: {name: k}\nextra: 1\n" +
			"spec: {type: inline, typo: 1, parameters: {contentType: key, value: v, valeu: w}}",
			[]string{`KeyManagementProvider k: unknown field "extra"`, `KeyManagementProvider k: unknown field "spec.typo"`,
				`KeyManagementProvider k: unknown field "spec.parameters.valeu"`}},
		{"key given twice", head + "kind: Store\nmetadata: {name: s}\nspec:\n  name: oras\n  name: oci-layout",
			[]string{`Store s: yaml: unmarshal errors: line 6: key "name" already set in map`}},
		{"type with no known parameters", head + "kind: Verifier\nmetadata: {name: v}\nspec: {name: sbom, artifactTypes: t, parameters: {anything: 1}}", nil},
		{"policy", head + "kind: Policy\nmetadata: {name: ratify-policy}\nspec: {type: cel, parameters: {validations: [{expression: 'true', mesage: m}]}}",
			[]string{`Policy ratify-policy: unknown field "spec.parameters.validations[0].mesage"`}},
		{"certificate store", head + "kind: CertificateStore\nmetadata: {name: c}\nspec: {provider: inline, parameters: {value: v, contentType: certificate}}",
			[]string{`CertificateStore c: unknown field "spec.parameters.contentType"`}},
	} {
		obj, warnings, err := NewDecoder().Decode([]byte(c.doc))
		if err != nil || obj == nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if strings.Join(warnings, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: warnings\n%q\nwant\n%q", c.name, warnings, c.want)
		}
	}
}

// What was given is decoded, unknown fields aside.
func TestDecodeValues(t *testing.T) {
	obj, _, err := NewDecoder().Decode([]byte(head + "kind: Store\nmetadata: {name: s}\nbogus: 1\nspec: {name: oci-layout, parameters: {path: /d, typo: 1}}"))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := obj.(*Store)
	if !ok || s.Name != "s" || s.Kind != "Store" || s.APIVersion != APIVersion || s.Spec.Name != StoreOCILayout {
		t.Fatalf("%#v", obj)
	}
	p, _, err := s.Spec.StoreParameters()
	if err != nil || p.Path != "/d" {
		t.Errorf("parameters %+v %v", p, err)
	}
}

// A document that cannot be decoded is an error, not a warning.
func TestDecodeErrors(t *testing.T) {
	for _, doc := range []string{
		head + "kind: Store\nmetadata: {name: s}\nspec: [1, 2]",
		head + "kind: Store\nmetadata: {name: s}\nspec: {name: [oras]}",
		head + "kind: Unknown\nmetadata: {name: s}",
		"kind: Store\nmetadata: {name: s}",
	} {
		if _, _, err := NewDecoder().Decode([]byte(doc)); err == nil {
			t.Errorf("%q: decoded", doc)
		}
	}
}

// Parameters dispatches on kind and type, for typed objects as a cache
// holds them; its errors are the parameters' own.
func TestParameters(t *testing.T) {
	kmp := &KeyManagementProvider{Spec: KeyManagementProviderSpec{Type: KMPInline}}
	kmp.Name = "k"
	kmp.Spec.Parameters.Raw = []byte(`{"contentType": "key", "value": "v", "x": 1}`)
	p, warnings, err := Parameters(kmp)
	if _, ok := p.(InlineParameters); !ok || err != nil || len(warnings) != 1 || warnings[0] != `KeyManagementProvider k: unknown field "spec.parameters.x"` {
		t.Errorf("inline: %#v %q %v", p, warnings, err)
	}
	kmp.Spec.Parameters.Raw = []byte(`{"value": "v"}`)
	if _, _, err := Parameters(kmp); err == nil || !strings.Contains(err.Error(), "spec.parameters.contentType is required") {
		t.Errorf("inline without contentType: %v", err)
	}
	v := &Verifier{Spec: VerifierSpec{Type: VerifierNotation, Name: "ignored"}}
	if p, _, _ := Parameters(v); p == nil {
		t.Error("spec.type names the verifier")
	}
	ns := &NamespacedStore{Spec: StoreSpec{Name: StoreOCILayout}}
	ns.Spec.Parameters.Raw = []byte(`{"path": "/d"}`)
	if p, _, err := Parameters(ns); err != nil || p.(StoreParameters).Path != "/d" {
		t.Errorf("namespaced store: %#v %v", p, err)
	}
	ns.Spec.Parameters.Raw = []byte(`{"referrersCacheTTL": "soon"}`)
	if _, _, err := Parameters(ns); err == nil {
		t.Error("namespaced store: invalid parameters accepted")
	}
	if p, w, err := Parameters(&Store{Spec: StoreSpec{Name: "s3"}}); p != nil || w != nil || err != nil {
		t.Errorf("unknown store: %v %v %v", p, w, err)
	}
}
