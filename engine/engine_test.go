package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

const (
	notationType = "application/vnd.cncf.notary.signature"
	cosignType   = "application/vnd.dev.cosign.artifact.sig.v1+json"
)

// world is a registry holding images signed in every way the cases need,
// with the keys and certificates that signed them.
type world struct {
	host         string
	good, other  *sign.PKI // trusted CA's leaf; a leaf of another CA
	intruder     *sign.PKI // a leaf of the trusted CA with another subject
	keyA, keyB   *sign.CosignKey
	images       map[string]string // case name -> image reference by digest
	imageDigests map[string]ocispec.Descriptor
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func newWorld(t testing.TB) *world {
	t.Helper()
	reg := regtest.StartOCI11(t, 0)
	w := &world{host: reg.Host, images: map[string]string{}, imageDigests: map[string]ocispec.Descriptor{}}
	w.good = sign.NewPKI(t, sign.Options{CommonName: "good"})
	w.other = sign.NewPKI(t, sign.Options{CommonName: "other"})
	w.intruder = sign.Issue(t, w.good, sign.Options{CommonName: "intruder"})
	w.keyA, w.keyB = sign.NewCosignKey(t), sign.NewCosignKey(t)

	push := func(name, repoName string, signFn func(repo *remote.Repository, d ocispec.Descriptor)) {
		repo := regtest.Repo(t, reg.Host, repoName, "", "")
		d := regtest.PushImage(t, repo, name)
		if signFn != nil {
			signFn(repo, d)
		}
		w.images[name] = reg.Host + "/" + repoName + "@" + d.Digest.String()
		w.imageDigests[name] = d
	}
	push("notation", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) { sign.Notation(t, w.good, r, d, sign.JWS) })
	push("notation-cose", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) { sign.Notation(t, w.good, r, d, sign.COSE) })
	push("cosign", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Cosign(t, w.keyA, r, reg.Host+"/team-a/app", d, "")
	})
	push("unsigned", "team-a/app", nil)
	push("other-ca", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) { sign.Notation(t, w.other, r, d, sign.JWS) })
	push("cosign-other-key", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Cosign(t, w.keyB, r, reg.Host+"/team-a/app", d, "")
	})
	push("cosign-wrong-digest", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) {
		// A valid signature of the "cosign" image, copied onto this one.
		sign.Cosign(t, w.keyA, r, reg.Host+"/team-a/app", d, w.imageDigests["cosign"].Digest)
	})
	push("intruder", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) { sign.Notation(t, w.intruder, r, d, sign.JWS) })
	push("expired", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) {
		old := sign.Issue(t, w.good, sign.Options{CommonName: "good", NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		sign.NotationAt(t, old, r, d, time.Now().Add(-48*time.Hour))
	})
	push("two-sigs", "team-a/app", func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Notation(t, w.good, r, d, sign.JWS)
		sign.Notation(t, w.other, r, d, sign.JWS)
	})
	push("team-b-keyA", "team-b/app", func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Cosign(t, w.keyA, r, reg.Host+"/team-b/app", d, "")
	})
	push("team-b-keyB", "team-b/app", func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Cosign(t, w.keyB, r, reg.Host+"/team-b/app", d, "")
	})
	return w
}

// resources is a Ratify configuration for the world: a store, inline KMPs
// (a certificate for notation, cosign keys A and B), and extra documents.
func (w *world) resources(extra ...string) string {
	docs := []string{
		`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: store-oras}
spec:
  name: oras
  parameters: {useHttp: true, cosignEnabled: true}`,
		fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: certs-kmp}
spec:
  type: inline
  parameters: {contentType: certificate, value: %s}`, q(w.good.CAPEM())),
		fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: key-a}
spec:
  type: inline
  parameters: {contentType: key, value: %s}`, q(w.keyA.PublicPEM())),
		fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: key-b}
spec:
  type: inline
  parameters: {contentType: key, value: %s}`, q(w.keyB.PublicPEM())),
	}
	return strings.Join(append(docs, extra...), "\n---\n")
}

func (w *world) trustPolicy(scope string) string {
	return fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "default", "registryScopes": [%s],
    "signatureVerification": {"level": "strict"}, "trustStores": ["ca:certs"],
    "trustedIdentities": [%s]}]}`, q(scope), q("x509.subject: "+w.good.Subject()))
}

func (w *world) notationVerifier(scope string) string {
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      certs: [certs-kmp]
    trustPolicyDoc: ` + w.trustPolicy(scope)
}

func cosignVerifier(trustPolicies string) string {
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: ` + trustPolicies
}

const cosignDefault = `[{name: default, scopes: ["*"], keys: [{provider: key-a}]}]`

func configPolicy(mode string) string {
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: config-policy
  parameters:
    artifactVerificationPolicies:
      application/vnd.cncf.notary.signature: ` + mode
}

// regoPolicy and celPolicy are user policies equivalent to the compiled
// default for a notation Verifier plus a cosign Verifier with key A.
func (w *world) regoPolicy(scope string, mode string) string {
	sigCheck := "notation_report.isSuccess"
	if mode == "any" {
		sigCheck = "some s in notation_report.signatures; s.isSuccess"
	}
	src := `package ratify.policy
import rego.v1
types := {r.artifactType | some r in oras.referrers(input.reference, "")}
notation_report := notation.verify(input.reference, {"trustPolicy": ` + w.trustPolicy(scope) + `,
  "trustStores": {"ca:certs": kmp.certificates("certs-kmp")}})
cosign_report := cosign.verify(input.reference, {"keys": kmp.keys("key-a")})
default allow := false
allow if { "` + notationType + `" in types; ` + sigCheck + ` }
allow if { "` + cosignType + `" in types; cosign_report.isSuccess }
reasons contains "no signatures" if count(types) == 0
reasons contains notation_report.message if { not allow; "` + notationType + `" in types }
reasons contains cosign_report.message if { not allow; "` + cosignType + `" in types }
`
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: rego
  parameters:
    policy: ` + q(src)
}

func (w *world) celPolicy(scope string, mode string) string {
	sigCheck := "notation.verify(reference, n).isSuccess"
	if mode == "any" {
		sigCheck = "notation.verify(reference, n).signatures.exists(s, s.isSuccess)"
	}
	n := `{"trustPolicy": ` + w.trustPolicy(scope) + `, "trustStores": {"ca:certs": kmp.certificates("certs-kmp")}}`
	expr := `(
  (oras.referrers(reference, "` + notationType + `").size() > 0 && ` + strings.ReplaceAll(sigCheck, "n)", n+")") + `) ||
  (oras.referrers(reference, "` + cosignType + `").size() > 0 && cosign.verify(reference, {"keys": kmp.keys("key-a")}).isSuccess))`
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: cel
  parameters:
    validations:
      - expression: 'oras.referrers(reference, "").size() > 0'
        message: no signatures
      - expression: ` + q(expr) + `
        message: no trusted signature`
}

// ratifyRegoPolicy is Ratify's rego-policy with the usual "nothing failed"
// rule, failed_verify, and the rules in body (Rego v0, as Ratify's examples).
func ratifyRegoPolicy(body string) string {
	src := "package ratify.policy\ndefault valid := false\n" + body + `
failed_verify(reports) {
  [path, value] := walk(reports)
  value == false
  path[count(path) - 1] == "isSuccess"
}`
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: rego-policy
  parameters:
    policy: ` + q(src)
}

func evaluate(t *testing.T, yaml, image, namespace string) engine.Decision {
	t.Helper()
	res, err := config.Load(strings.NewReader(yaml))
	if err != nil {
		t.Fatalf("load: %v\n%s", err, yaml)
	}
	eng, err := engine.New(context.Background(), res, engine.Options{})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return eng.Evaluate(context.Background(), image, namespace)
}

type verdict struct {
	allow  bool
	reason string // a substring of some reason, when denied
}

func check(t *testing.T, d engine.Decision, want verdict) {
	t.Helper()
	if d.Allow != want.allow {
		b, _ := json.MarshalIndent(d, "", "  ")
		t.Fatalf("allow = %v, want %v\n%s", d.Allow, want.allow, b)
	}
	if !want.allow && want.reason != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), want.reason) {
		t.Fatalf("reasons %q do not mention %q", d.Reasons, want.reason)
	}
	if !want.allow && len(d.Reasons) == 0 {
		t.Fatal("denied without a reason")
	}
}

func TestPolicies(t *testing.T) {
	w := newWorld(t)
	scope := w.host + "/team-a/app"
	compiled := func(mode string) string {
		extra := []string{w.notationVerifier(scope), cosignVerifier(cosignDefault)}
		if mode == "any" {
			extra = append(extra, configPolicy("any"))
		}
		return w.resources(extra...)
	}
	policies := map[string]func(mode string) string{
		"compiled": compiled,
		"rego":     func(mode string) string { return w.resources(w.regoPolicy(scope, mode)) },
		"cel":      func(mode string) string { return w.resources(w.celPolicy(scope, mode)) },
	}
	cases := []struct {
		image string
		mode  string
		want  verdict
	}{
		{"notation", "all", verdict{allow: true}},
		{"notation-cose", "all", verdict{allow: true}},
		{"cosign", "all", verdict{allow: true}},
		{"unsigned", "all", verdict{reason: "no signatures"}},
		{"other-ca", "all", verdict{}},
		{"cosign-other-key", "all", verdict{}},
		{"cosign-wrong-digest", "all", verdict{}},
		{"intruder", "all", verdict{}},
		{"expired", "all", verdict{}},
		{"two-sigs", "all", verdict{}},
		{"two-sigs", "any", verdict{allow: true}},
	}
	for kind, build := range policies {
		for _, c := range cases {
			t.Run(kind+"/"+c.image+"/"+c.mode, func(t *testing.T) {
				d := evaluate(t, build(c.mode), w.images[c.image], "")
				check(t, d, c.want)
				if len(d.Reports) == 0 && c.image != "unsigned" {
					t.Error("no reports recorded")
				}
			})
		}
	}
}

func TestCompiledDefault(t *testing.T) {
	w := newWorld(t)
	teamA, teamB := w.host+"/team-a/*", w.host+"/team-b/*"

	t.Run("notation scope does not match", func(t *testing.T) {
		d := evaluate(t, w.resources(w.notationVerifier("elsewhere.io/app")), w.images["notation"], "")
		check(t, d, verdict{reason: "trust policy"})
	})
	t.Run("cosign per-scope keys", func(t *testing.T) {
		yaml := w.resources(cosignVerifier(fmt.Sprintf(`[{name: a, scopes: [%q], keys: [{provider: key-a}]}, {name: b, scopes: [%q], keys: [{provider: key-b}]}]`, teamA, teamB)))
		check(t, evaluate(t, yaml, w.images["cosign"], ""), verdict{allow: true})
		check(t, evaluate(t, yaml, w.images["team-b-keyB"], ""), verdict{allow: true})
		// Registry A's key cannot pass registry B's image.
		check(t, evaluate(t, yaml, w.images["team-b-keyA"], ""), verdict{})
	})
	t.Run("cosign scope that matches nothing", func(t *testing.T) {
		yaml := w.resources(cosignVerifier(fmt.Sprintf(`[{name: b, scopes: [%q], keys: [{provider: key-b}]}]`, teamB)))
		check(t, evaluate(t, yaml, w.images["cosign"], ""), verdict{reason: "no trust policy scope matches"})
	})
	t.Run("overlapping cosign scopes", func(t *testing.T) {
		yaml := w.resources(cosignVerifier(fmt.Sprintf(`[{name: a, scopes: [%q], keys: [{provider: key-a}]}, {name: b, scopes: [%q], keys: [{provider: key-a}]}]`, teamA, w.host+"/team-a/app")))
		check(t, evaluate(t, yaml, w.images["cosign"], ""), verdict{reason: "overlaps"})
	})
	t.Run("namespaced KMP invisible to a cluster Verifier", func(t *testing.T) {
		yaml := w.resources(fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: ns-key, namespace: team-a}
spec:
  type: inline
  parameters: {contentType: key, value: %s}`, q(w.keyA.PublicPEM())),
			cosignVerifier(`[{name: default, scopes: ["*"], keys: [{provider: team-a/ns-key}]}]`))
		check(t, evaluate(t, yaml, w.images["cosign"], "team-a"), verdict{reason: "cannot use the namespaced key management provider"})
	})
	t.Run("namespaced KMP visible to its NamespacedVerifier", func(t *testing.T) {
		yaml := w.resources(fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: ns-key, namespace: team-a}
spec:
  type: inline
  parameters: {contentType: key, value: %s}`, q(w.keyA.PublicPEM())),
			`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedVerifier
metadata: {name: verifier-cosign, namespace: team-a}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: team-a/ns-key}]}]`)
		check(t, evaluate(t, yaml, w.images["cosign"], "team-a"), verdict{allow: true})
		// Another namespace has no verifier for it: no signatures it can check.
		check(t, evaluate(t, yaml, w.images["cosign"], "team-b"), verdict{reason: "no signatures"})
	})
	t.Run("unknown provider is a denial with a reason", func(t *testing.T) {
		yaml := w.resources(cosignVerifier(`[{name: default, scopes: ["*"], keys: [{provider: no-such-kmp}]}]`))
		check(t, evaluate(t, yaml, w.images["cosign"], ""), verdict{reason: `unknown key management provider "no-such-kmp"`})
		for _, kind := range []string{"rego", "cel"} {
			var pol string
			if kind == "rego" {
				pol = `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: rego
  parameters:
    policy: |
      package ratify.policy
      import rego.v1
      default allow := false
      allow if cosign.verify(input.reference, {"keys": kmp.keys("no-such-kmp")}).isSuccess`
			} else {
				pol = `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: cel
  parameters:
    validations:
      - expression: 'cosign.verify(reference, {"keys": kmp.keys("no-such-kmp")}).isSuccess'
        message: cosign`
			}
			check(t, evaluate(t, w.resources(pol), w.images["cosign"], ""), verdict{reason: "no-such-kmp"})
		}
	})
	t.Run("required artifact type must be present", func(t *testing.T) {
		yaml := w.resources(w.notationVerifier(w.host+"/team-a/app"), cosignVerifier(cosignDefault), `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: config-policy
  parameters:
    artifactVerificationPolicies:
      application/vnd.cncf.notary.signature: any
      application/vnd.dev.cosign.artifact.sig.v1+json: all`)
		check(t, evaluate(t, yaml, w.images["notation"], ""), verdict{reason: "requires a application/vnd.dev.cosign.artifact.sig.v1+json artifact"})
	})
	t.Run("Ratify rego-policy over verifierReports", func(t *testing.T) {
		yaml := w.resources(w.notationVerifier(w.host+"/team-a/app"), ratifyRegoPolicy(`valid {
  not failed_verify(input)
}`))
		check(t, evaluate(t, yaml, w.images["notation"], ""), verdict{allow: true})
		check(t, evaluate(t, yaml, w.images["other-ca"], ""), verdict{})
		check(t, evaluate(t, yaml, w.images["unsigned"], ""), verdict{reason: "no signatures"})
	})
}

// TestLegacyPolicySeesVerifiersThatCouldNotRun: with Ratify's rego-policy,
// a Verifier that applies to an attached signature but cannot run (no
// cosign trust policy scope matches, an unknown key management provider)
// must appear in input.verifierReports as failed. Were it absent, the
// usual "no isSuccess == false anywhere" policy would admit an image whose
// signature was never checked.
func TestLegacyPolicySeesVerifiersThatCouldNotRun(t *testing.T) {
	w := newWorld(t)
	legacy := ratifyRegoPolicy(`valid {
  count(input.verifierReports) > 0
  not failed_verify(input)
}
reasons[m] {
  vr := input.verifierReports[_].verifierReports[_]
  vr.isSuccess == false
  m := vr.message
}`)
	for _, c := range []struct {
		name, trustPolicies, reason string
	}{
		{"no scope matches", `[{name: elsewhere, scopes: ["other.io/*"], keys: [{provider: key-a}]}]`, "no trust policy scope matches the image"},
		{"unknown provider", `[{name: default, scopes: ["*"], keys: [{provider: no-such-kmp}]}]`, "could not run"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := w.resources(cosignVerifier(c.trustPolicies), legacy)
			// The reason comes from the failed entry of input.verifierReports.
			check(t, evaluate(t, yaml, w.images["cosign"], ""), verdict{reason: c.reason})
		})
	}
	// Control: the same policy admits the image when the verifier runs.
	check(t, evaluate(t, w.resources(cosignVerifier(cosignDefault), legacy), w.images["cosign"], ""), verdict{allow: true})
}

// TestCertificateStoreCannotReplaceClusterProvider: a CertificateStore is
// namespaced. A tenant's, named like the cluster's key management provider,
// must not stand in for it: the cluster Verifier keeps trusting only the
// cluster's certificates, in every namespace. In ratify's own namespace,
// where a CertificateStore is also known by its bare name, the key
// management provider takes precedence (as in Ratify), never an overwrite.
func TestCertificateStoreCannotReplaceClusterProvider(t *testing.T) {
	w := newWorld(t)
	certStore := func(ns string) string {
		return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: CertificateStore
metadata: {name: certs-kmp, namespace: %s}
spec:
  provider: inline
  parameters: {value: %s}`, ns, q(w.other.CAPEM()))
	}
	yaml := w.resources(w.notationVerifier(w.host+"/team-a/app"), certStore("tenant"))
	for _, ns := range []string{"", "default", "tenant"} {
		check(t, evaluate(t, yaml, w.images["other-ca"], ns), verdict{})
		check(t, evaluate(t, yaml, w.images["notation"], ns), verdict{allow: true})
	}

	res, err := config.Load(strings.NewReader(w.resources(w.notationVerifier(w.host+"/team-a/app"), certStore("ratify-system"))))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(context.Background(), res, engine.Options{Namespace: "ratify-system"})
	if err != nil {
		t.Fatalf("a CertificateStore in ratify's namespace named like a KeyManagementProvider failed the configuration: %v", err)
	}
	if warn := strings.Join(e.Warnings(), "\n"); !strings.Contains(warn, "CertificateStore ratify-system/certs-kmp") || !strings.Contains(warn, "takes precedence") {
		t.Errorf("warnings %q do not say the CertificateStore is left out", warn)
	}
	for _, ns := range []string{"", "default", "ratify-system"} {
		if d := e.Evaluate(context.Background(), w.images["other-ca"], ns); d.Allow {
			t.Errorf("namespace %q: the CertificateStore's certificate was trusted", ns)
		}
		if d := e.Evaluate(context.Background(), w.images["notation"], ns); !d.Allow {
			t.Errorf("namespace %q: the KeyManagementProvider's certificate is no longer trusted: %q", ns, d.Reasons)
		}
	}
}

// TestVerifierFieldsCannotInjectRego: the compiled policy shows a
// Verifier's artifact types and names in comments. A tenant's
// NamespacedVerifier whose artifactTypes carries a line break must not
// end the comment and add a rule of its own (`allow if true`).
func TestVerifierFieldsCannotInjectRego(t *testing.T) {
	w := newWorld(t)
	evil := `apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedVerifier
metadata: {name: evil, namespace: tenant}
spec:
  name: cosign
  artifactTypes: "x\nallow if true\n#"
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: key-a}]}]`
	yaml := w.resources(cosignVerifier(cosignDefault), evil)
	check(t, evaluate(t, yaml, w.images["unsigned"], "tenant"), verdict{})
	check(t, evaluate(t, yaml, w.images["cosign-other-key"], "tenant"), verdict{})
	check(t, evaluate(t, yaml, w.images["cosign"], "tenant"), verdict{allow: true})
}
