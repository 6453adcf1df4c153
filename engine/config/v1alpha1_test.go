package config

import (
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// Ratify's v1alpha1 samples: a store, a notation verifier, a config
// policy named by its type, and a certificate store.
const v1alpha1Docs = `apiVersion: config.ratify.deislabs.io/v1alpha1
kind: Store
metadata:
  name: store-oras
spec:
  name: oras
  parameters:
    cosignEnabled: true
    useHttp: true
---
apiVersion: config.ratify.deislabs.io/v1alpha1
kind: Verifier
metadata:
  name: verifier-notation
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      certs:
        - ratify-notation-inline-cert-0
    trustPolicyDoc:
      version: "1.0"
      trustPolicies:
        - name: default
          registryScopes: ["*"]
          signatureVerification: {level: strict}
          trustStores: ["ca:certs"]
          trustedIdentities: ["*"]
---
apiVersion: config.ratify.deislabs.io/v1alpha1
kind: Policy
metadata:
  name: configpolicy
spec:
  parameters:
    artifactVerificationPolicies:
      default: all
---
apiVersion: config.ratify.deislabs.io/v1alpha1
kind: CertificateStore
metadata:
  name: ratify-notation-inline-cert-0
  namespace: gatekeeper-system
spec:
  provider: inline
  parameters:
    value: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
`

// v1alpha1 documents load as their v1beta1 kinds, without warnings, and
// their parameters decode as v1beta1's.
func TestLoadV1alpha1(t *testing.T) {
	res, err := Load(strings.NewReader(v1alpha1Docs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 || len(res.Skipped) != 0 {
		t.Errorf("warnings %q, skipped %q", res.Warnings, res.Skipped)
	}
	if len(res.Stores) != 1 || len(res.Verifiers) != 1 || len(res.Policies) != 1 || len(res.CertificateStores) != 1 || len(objects(res)) != 4 {
		t.Fatalf("%+v", res)
	}
	for _, obj := range objects(res) {
		if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.GroupVersion() != v1beta1.GroupVersion {
			t.Errorf("%s: loaded as %s", v1beta1.Describe(obj), gvk)
		}
		if p, w, err := v1beta1.Parameters(obj); p == nil || len(w) != 0 || err != nil {
			t.Errorf("%s: parameters %#v, warnings %q, %v", v1beta1.Describe(obj), p, w, err)
		}
	}
	if p := res.Policies[0]; p.Name != v1beta1.ClusterPolicyName || p.Spec.Type != v1beta1.PolicyConfig {
		t.Errorf("policy %s of type %q", p.Name, p.Spec.Type)
	}
	if v := res.Verifiers[0]; v.Name != "verifier-notation" || v.Spec.VerifierType() != v1beta1.VerifierNotation || v.Spec.ArtifactTypes == "" {
		t.Errorf("verifier %+v", v)
	}
	if c := res.CertificateStores[0]; c.Namespace != "gatekeeper-system" || c.Spec.Provider != v1beta1.KMPInline {
		t.Errorf("certificate store %+v", c)
	}
	cfgs, err := res.StoreConfigs()
	if err != nil || len(cfgs) != 1 || !cfgs[0].CosignEnabled || !cfgs[0].PlainHTTP {
		t.Errorf("store configs %+v %v", cfgs, err)
	}
}

// Unknown fields of v1alpha1 documents are warnings, as v1beta1's: those
// v1alpha1 does not have (spec.version is v1beta1's) and those in
// spec.parameters.
func TestLoadV1alpha1Warnings(t *testing.T) {
	doc := "apiVersion: config.ratify.deislabs.io/v1alpha1\nkind: Store\nmetadata: {name: s}\n" +
		"spec: {name: oras, version: 1.0.0, parameters: {cosignEnabld: true}}"
	res, err := Load(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`Store s: unknown field "spec.version"`, `Store s: unknown field "spec.parameters.cosignEnabld"`}
	if strings.Join(res.Warnings, "\n") != strings.Join(want, "\n") || len(res.Stores) != 1 {
		t.Errorf("warnings\n%q\nwant\n%q", res.Warnings, want)
	}
}

// NamespacedStores load with their parameters checked like a Store's, and
// leave the configuration's revision as it was: nothing uses them yet.
func TestLoadNamespacedStore(t *testing.T) {
	res, err := Load(strings.NewReader(guideStore))
	if err != nil {
		t.Fatal(err)
	}
	before := res.Revision()
	res, err = Load(strings.NewReader(guideStore + "---\n" + apiVersion +
		"kind: NamespacedStore\nmetadata: {name: team-store, namespace: team-a}\nspec: {name: oras, parameters: {useHttp: true, cosignEnabld: true}}"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NamespacedStores) != 1 || len(res.Stores) != 2 {
		t.Fatalf("%+v", res)
	}
	if s := res.NamespacedStores[0]; s.Namespace != "team-a" || s.Spec.Name != v1beta1.StoreOras {
		t.Errorf("%+v", s)
	}
	want := `NamespacedStore team-a/team-store: unknown field "spec.parameters.cosignEnabld"`
	if len(res.Warnings) != 1 || res.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", res.Warnings, want)
	}
	if res.Revision() != before {
		t.Error("a NamespacedStore changed the revision")
	}
}
