package compile_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine/compile"
	"github.com/seed-12b584bc/ratify/engine/opa"
	"github.com/seed-12b584bc/ratify/test/tools"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	notationType = "application/vnd.cncf.notary.signature"
	cosignType   = "application/vnd.dev.cosign.artifact.sig.v1+json"
)

// Parameters of the Verifiers the golden modules are compiled from.
const (
	notationParams = `{
		"verificationCertStores": {"certs": ["notation-certs"]},
		"trustPolicyDoc": {"version": "1.0", "trustPolicies": [{
			"name": "default", "registryScopes": ["*"],
			"signatureVerification": {"level": "strict"},
			"trustStores": ["ca:certs"],
			"trustedIdentities": ["x509.subject: CN=ratify-policies,O=Ratify Test,L=Seattle,ST=WA,C=US"]}]}}`
	cosignParams = `{"trustPolicies": [{"name": "default", "scopes": ["*"], "keys": [{"provider": "cosign-key-1"}]}]}`
	// Two trust policies: one for a repository prefix with a key version
	// and the transparency log, and the `*` fallback with a named key.
	cosignScopedParams = `{"trustPolicies": [
		{"name": "team", "scopes": ["localhost:5001/team/*", "localhost:5002/app"], "tLogVerify": true,
		 "keys": [{"provider": "team-keys", "name": "signing", "version": "2"}, {"provider": "cosign-key-1"}]},
		{"name": "fallback", "scopes": ["*"], "keys": [{"provider": "cosign-rotating", "name": "signing"}]}]}`
)

func notationVerifier(name string) compile.Verifier {
	return compile.Verifier{Name: name, Type: "notation", ArtifactTypes: []string{notationType}, Parameters: json.RawMessage(notationParams)}
}

func cosignVerifier(name, params string) compile.Verifier {
	return compile.Verifier{Name: name, Type: "cosign", ArtifactTypes: []string{cosignType}, Parameters: json.RawMessage(params)}
}

// goldenCases are the modules of testdata/<name>.rego.
var goldenCases = []struct {
	name string
	in   compile.Input
}{
	{"no-verifiers", compile.Input{Sources: []string{"ratify-policy"}}},
	{"notation", compile.Input{Verifiers: []compile.Verifier{notationVerifier("verifier-notation")},
		Sources: []string{"verifier-notation", "ratify-policy"}}},
	{"cosign", compile.Input{Verifiers: []compile.Verifier{cosignVerifier("verifier-cosign", cosignScopedParams)},
		Sources: []string{"verifier-cosign"}}},
	{"notation-and-cosign", compile.Input{
		Verifiers: []compile.Verifier{notationVerifier("verifier-notation"), cosignVerifier("verifier-cosign", cosignParams)},
		Sources:   []string{"verifier-cosign", "verifier-notation", "ratify-policy"}}},
	{"config-policy-any", compile.Input{
		Verifiers:    []compile.Verifier{notationVerifier("verifier-notation"), cosignVerifier("verifier-cosign", cosignParams)},
		ConfigPolicy: avp(`{"default": "any"}`),
		Sources:      []string{"verifier-cosign", "verifier-notation", "ratify-policy"}}},
	{"config-policy-required", compile.Input{
		Verifiers:    []compile.Verifier{notationVerifier("verifier-notation"), cosignVerifier("verifier-cosign", cosignParams)},
		ConfigPolicy: avp(`{"` + notationType + `": "any", "` + cosignType + `": "All"}`),
		Sources:      []string{"verifier-cosign", "verifier-notation", "ratify-policy"}}},
	// Two Verifiers of one type: "all" needs both reports, "any" one signature of either.
	{"two-notation-verifiers-any", compile.Input{
		Verifiers:    []compile.Verifier{notationVerifier("notation-a"), notationVerifier("notation-b")},
		ConfigPolicy: avp(`{"` + notationType + `": "any"}`),
		Sources:      []string{"notation-a", "notation-b", "ratify-policy"}}},
	{"namespaced-verifier", compile.Input{
		Verifiers: []compile.Verifier{
			cosignVerifier("verifier-cosign", cosignParams),
			{Name: "team-notation", Namespace: "team-a", Type: "notation", ArtifactTypes: []string{notationType},
				Parameters: json.RawMessage(`{"verificationCertStores": {"ca": {"certs": ["team-a/team-certs", "notation-certs"]}},
					"trustPolicyDoc": {"version": "1.0", "trustPolicies": [{"name": "team", "registryScopes": ["*"],
					"signatureVerification": {"level": "strict"}, "trustStores": ["ca:certs"], "trustedIdentities": ["*"]}]}}`)},
		},
		Sources: []string{"team-a/team-notation", "verifier-cosign", "NamespacedPolicy team-a/ratify-policy"}}},
	// Mistakes compile to a policy that denies with them as reasons.
	{"config-errors", compile.Input{
		Verifiers: []compile.Verifier{
			{Name: "uses-namespaced-kmp", Type: "notation", ArtifactTypes: []string{notationType},
				Parameters: json.RawMessage(`{"verificationCertStores": {"certs": ["team-a/team-certs"]}}`)},
			cosignVerifier("overlapping", `{"trustPolicies": [
				{"name": "a", "scopes": ["localhost:5001/*"], "keys": [{"provider": "k"}]},
				{"name": "b", "scopes": ["localhost:5001/app"], "keys": []},
				{"name": "c", "scopes": ["*"], "keys": [{"provider": "k"}], "keyless": {"certificateIdentity": "x"}}]}`),
			{Name: "sbom", Type: "sbom", ArtifactTypes: []string{"application/spdx+json"}},
		},
		Sources: []string{"overlapping", "sbom", "uses-namespaced-kmp"}}},
	// Parameters that do not decode still compile, to a denial that says so.
	{"malformed-parameters", compile.Input{
		Verifiers: []compile.Verifier{
			{Name: "bad-notation", Type: "notation", ArtifactTypes: []string{notationType}, Parameters: json.RawMessage(`{"trustPolicyDoc": 5, "verificationCertStores": []}`)},
			cosignVerifier("bad-cosign", `{"trustPolicies": "everything"}`),
		},
		Sources: []string{"bad-cosign", "bad-notation"}}},
	// Values from resources reach code quoted, and comments on one line.
	{"hostile-fields", compile.Input{
		Verifiers: []compile.Verifier{{Name: "evil\"}\nallow := true\n#", Namespace: "tenant\u2028allow if true", Type: "cosign",
			ArtifactTypes: []string{"x\nallow if true\n#", "y\r\n\"} allow if { true"},
			Parameters:    json.RawMessage(`{"trustPolicies": [{"name": "n\nallow if true", "scopes": ["*"], "keys": [{"provider": "tenant\u2028allow if true/k\"\n", "name": "a\"\nb"}]}]}`)}},
		Sources: []string{"evil\nallow if true", "tenant\rallow if true"}}},
	// Ratify's rego-policy reads verifier_reports of its own package.
	{"rego-policy-package", compile.Input{
		Verifiers: []compile.Verifier{notationVerifier("verifier-notation"), cosignVerifier("verifier-cosign", cosignScopedParams)},
		Package:   "ratify.compiled",
		Sources:   []string{"verifier-cosign", "verifier-notation"}}},
}

// TestGolden compares each compiled module with testdata/<name>.rego
// (go test -run TestGolden -update rewrites them) and has the real opa
// accept each with the capabilities `ratify policy capabilities` writes.
func TestGolden(t *testing.T) {
	var files []string
	for _, c := range goldenCases {
		got, err := compile.Rego(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		file := filepath.Join("testdata", c.name+".rego")
		files = append(files, file)
		if *update {
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (go test ./engine/compile -run TestGolden -update writes it)", c.name, err)
		}
		if got != string(want) {
			t.Errorf("%s: the compiled module differs from %s (go test ./engine/compile -run TestGolden -update rewrites it):\n%s", c.name, file, got)
		}
	}

	opaBin := tools.Path(t, "opa")
	caps := filepath.Join(t.TempDir(), "capabilities.json")
	// In another process: opa.Capabilities registers ratify's builtins with
	// OPA for the whole process, and the other tests here stub them.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), capabilitiesEnv+"="+caps)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing capabilities: %v\n%s", err, out)
	}
	for _, f := range files {
		if out, err := exec.Command(opaBin, "check", "--strict", "--capabilities", caps, f).CombinedOutput(); err != nil {
			t.Errorf("opa check %s: %v\n%s", f, err, out)
		}
	}
}

// capabilitiesEnv names the file TestMain writes the capabilities to,
// instead of running the tests.
const capabilitiesEnv = "RATIFY_TEST_WRITE_CAPABILITIES"

func TestMain(m *testing.M) {
	if file := os.Getenv(capabilitiesEnv); file != "" {
		if err := os.WriteFile(file, capabilitiesJSON(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// capabilitiesJSON is what `ratify policy capabilities` writes: the
// capabilities the engine compiles policies with, allow_net always present.
func capabilitiesJSON() []byte {
	caps := opa.Capabilities()
	b, _ := json.Marshal(struct {
		*ast.Capabilities
		AllowNet []string `json:"allow_net"`
	}{caps, caps.AllowNet})
	return b
}

// avp is a config-policy's artifactVerificationPolicies, from JSON.
func avp(modes string) v1beta1.ConfigPolicyParameters {
	var p v1beta1.ConfigPolicyParameters
	if err := json.Unmarshal([]byte(modes), &p.ArtifactVerificationPolicies); err != nil {
		panic(err)
	}
	return p
}
