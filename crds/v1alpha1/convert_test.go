package v1alpha1

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

func raw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"a": "b"}}
}

func TestStoreToV1beta1(t *testing.T) {
	in := &Store{ObjectMeta: meta("store-oras"), Spec: StoreSpec{
		Name: "oras", Address: "/plugins/oras", Parameters: raw(`{"useHttp":true}`),
		Source: &PluginSource{Artifact: "example.com/oras:v1", AuthProvider: raw(`{"name":"x"}`)},
	}}
	got := StoreToV1beta1(in)
	want := &v1beta1.Store{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.APIVersion, Kind: "Store"},
		ObjectMeta: meta("store-oras"),
		Spec: v1beta1.StoreSpec{
			Name: "oras", Address: "/plugins/oras", Parameters: raw(`{"useHttp":true}`),
			Source: &v1beta1.PluginSource{Artifact: "example.com/oras:v1", AuthProvider: raw(`{"name":"x"}`)},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A copy: changing the result leaves the input as it was.
	got.Labels["a"], got.Spec.Parameters.Raw[0], got.Spec.Source.Artifact = "c", '[', "y"
	if in.Labels["a"] != "b" || in.Spec.Parameters.Raw[0] != '{' || in.Spec.Source.Artifact != "example.com/oras:v1" {
		t.Errorf("the input shares memory with the result: %+v", in)
	}
	if StoreToV1beta1(&Store{}).Spec.Source != nil {
		t.Error("no source became one")
	}
}

func TestVerifierToV1beta1(t *testing.T) {
	in := &Verifier{ObjectMeta: meta("verifier-notation"), Spec: VerifierSpec{
		Name: "notation", ArtifactTypes: "application/vnd.cncf.notary.signature", Address: "/p",
		Source: &PluginSource{Artifact: "a"}, Parameters: raw(`{"trustPolicyDoc":{}}`),
	}}
	want := &v1beta1.Verifier{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.APIVersion, Kind: "Verifier"},
		ObjectMeta: meta("verifier-notation"),
		Spec: v1beta1.VerifierSpec{
			Name: "notation", ArtifactTypes: "application/vnd.cncf.notary.signature", Address: "/p",
			Source: &v1beta1.PluginSource{Artifact: "a"}, Parameters: raw(`{"trustPolicyDoc":{}}`),
		},
	}
	if got := VerifierToV1beta1(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// The v1alpha1 policy's name is its type; the result is the policy in force.
func TestPolicyToV1beta1(t *testing.T) {
	for name, typ := range map[string]string{
		"configpolicy":  v1beta1.PolicyConfig,
		"regopolicy":    v1beta1.PolicyRatifyRego,
		"Config-Policy": v1beta1.PolicyConfig,
		"rego-policy":   v1beta1.PolicyRatifyRego,
		"opa":           "opa",
	} {
		in := &Policy{ObjectMeta: meta(name), Spec: PolicySpec{Parameters: raw(`{"artifactVerificationPolicies":{"default":"all"}}`)}}
		got := PolicyToV1beta1(in)
		want := &v1beta1.Policy{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.APIVersion, Kind: "Policy"},
			ObjectMeta: meta(v1beta1.ClusterPolicyName),
			Spec:       v1beta1.PolicySpec{Type: typ, Parameters: raw(`{"artifactVerificationPolicies":{"default":"all"}}`)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, want)
		}
		if in.Name != name {
			t.Errorf("%s: the input was renamed", name)
		}
	}
}

func TestCertificateStoreToV1beta1(t *testing.T) {
	in := &CertificateStore{ObjectMeta: meta("certs"), Spec: CertificateStoreSpec{Provider: "inline", Parameters: raw(`{"value":"v"}`)}}
	want := &v1beta1.CertificateStore{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1beta1.APIVersion, Kind: "CertificateStore"},
		ObjectMeta: meta("certs"),
		Spec:       v1beta1.CertificateStoreSpec{Provider: "inline", Parameters: raw(`{"value":"v"}`)},
	}
	if got := CertificateStoreToV1beta1(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestToV1beta1(t *testing.T) {
	for _, c := range []struct {
		in   runtime.Object
		kind string
	}{
		{&Store{}, "Store"}, {&Verifier{}, "Verifier"}, {&Policy{}, "Policy"}, {&CertificateStore{}, "CertificateStore"},
	} {
		out, err := ToV1beta1(c.in)
		if err != nil || out.GetObjectKind().GroupVersionKind() != v1beta1.GroupVersion.WithKind(c.kind) {
			t.Errorf("%T: %v %v", c.in, out, err)
		}
	}
	for _, in := range []runtime.Object{&StoreList{}, &v1beta1.Store{}} {
		if _, err := ToV1beta1(in); !errors.Is(err, ErrNotConvertible) {
			t.Errorf("%T: %v", in, err)
		}
	}
}

// Every JSON field of a v1alpha1 spec is in the v1beta1 spec with the same
// Go kind, so the API server, which converts nothing, round-trips objects;
// the manifests are checked alike in crds.
func TestSpecFieldsInV1beta1(t *testing.T) {
	for _, c := range []struct{ alpha, beta any }{
		{StoreSpec{}, v1beta1.StoreSpec{}},
		{VerifierSpec{}, v1beta1.VerifierSpec{}},
		{PolicySpec{}, v1beta1.PolicySpec{}},
		{CertificateStoreSpec{}, v1beta1.CertificateStoreSpec{}},
		{PluginSource{}, v1beta1.PluginSource{}},
	} {
		beta := jsonFields(reflect.TypeOf(c.beta))
		for name, kind := range jsonFields(reflect.TypeOf(c.alpha)) {
			if beta[name] != kind {
				t.Errorf("%T.%s (%s): v1beta1 has %q", c.alpha, name, kind, beta[name])
			}
		}
	}
	// And a fully populated object survives the trip through v1beta1's JSON.
	in := Verifier{Spec: VerifierSpec{Name: "n", ArtifactTypes: "t", Address: "a",
		Source: &PluginSource{Artifact: "s", AuthProvider: raw(`{"k":1}`)}, Parameters: raw(`{"p":2}`)}}
	b, _ := json.Marshal(in)
	var mid v1beta1.Verifier
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mid); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(mid)
	var out Verifier
	if err := json.Unmarshal(b2, &out); err != nil || !reflect.DeepEqual(out.Spec, in.Spec) {
		t.Errorf("round trip: %+v %v", out.Spec, err)
	}
}

func jsonFields(t reflect.Type) map[string]reflect.Kind {
	fields := map[string]reflect.Kind{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = f.Type.Kind()
	}
	return fields
}
