package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestAsRatifyPolicy(t *testing.T) {
	src := `# a library policy
package ratify.policies.sbom

import rego.v1

kinds := {"application/spdx+json"}

allow if data.ratify.policies.sbom.kinds == kinds
`
	got, err := asRatifyPolicy("sbom.rego", src)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "\npackage ratify.policy\n") || !strings.Contains(got, "data.ratify.policy.kinds == kinds") || strings.Contains(got, "policies.sbom") {
		t.Fatalf("renamed:\n%s", got)
	}
	same := "package ratify.policy\nallow := true\n"
	if got, _ := asRatifyPolicy("p.rego", same); got != same {
		t.Fatalf("a ratify.policy module changed:\n%s", got)
	}
	if _, err := asRatifyPolicy("bad.rego", "package"); err == nil {
		t.Fatal("a parse error was accepted")
	}
}

func TestAbbreviate(t *testing.T) {
	pem := "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
	got := abbreviate(map[string]any{"keys": []any{map[string]any{"pem": pem, "version": "1"}}, "n": 1.0})
	b, _ := json.Marshal(got)
	want := `{"keys":[{"pem":"-----BEGIN PUBLIC KEY-----...(` + strconv.Itoa(len(pem)) + ` bytes)","version":"1"}],"n":1}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestPolicyEval(t *testing.T) {
	res, img := layoutFixture(t, true)
	dir := writeFiles(t, map[string]string{
		"sbom.rego": `package ratify.policies.sbom
import rego.v1
default allow := false
allow if count(oras.referrers(input.reference, "application/spdx+json")) > 0
reasons contains "no SBOM" if not allow
`,
		"cel.yaml":  sbomCEL,
		"notes.txt": "",
		"empty.yaml": `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: s}
spec: {name: oras}
`,
	})

	// A library policy decides; --explain lists the call with its result.
	code, out, errOut := runCLI(t, "policy", "eval", "-s", "localhost:5000/app:v1", "-c", res, "--policy", dir+"/sbom.rego", "--explain")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"ALLOWED localhost:5000/app@" + img.Digest.String(),
		"builtin calls, in order:",
		`1. oras.referrers("localhost:5000/app@` + img.Digest.String() + `", "application/spdx+json")`,
		`"artifactType": "application/spdx+json"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A CEL Policy from a resources file; JSON carries the calls.
	code, out, _ = runCLI(t, "policy", "eval", "-s", "localhost:5000/app:v1", "-c", res, "--policy", dir+"/cel.yaml", "--explain", "-o", "json")
	var d struct {
		Allow  bool   `json:"allow"`
		Policy string `json:"policy"`
		Calls  []struct {
			Name string `json:"name"`
		} `json:"calls"`
	}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || !d.Allow || d.Policy != "Policy ratify-policy" || len(d.Calls) != 1 || d.Calls[0].Name != "oras.referrers" {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}

	// Denied: exit 1 with the policy's reason; the resources' own policy
	// (compiled default, no Verifiers) when --policy is not given.
	unsigned, _ := layoutFixture(t, false)
	code, out, _ = runCLI(t, "policy", "eval", "-s", "localhost:5000/app:v1", "-c", unsigned, "--policy", dir+"/sbom.rego", "-n", "team-a")
	if code != 1 || !strings.Contains(out, "DENIED") || !strings.Contains(out, "no SBOM") || !strings.Contains(out, "NamespacedPolicy team-a/ratify-policy") {
		t.Fatalf("denied: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "policy", "eval", "-s", "localhost:5000/app:v1", "-c", unsigned, "--explain")
	if code != 1 || !strings.Contains(out, "compiled default") {
		t.Fatalf("resources' policy: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--policy", dir + "/notes.txt"}, "want a .rego file"},
		{[]string{"--policy", dir + "/empty.yaml"}, "has no Policy"},
		{[]string{"--policy", dir + "/missing.rego"}, "no such file"},
		{[]string{"-o", "yaml"}, "want text or json"},
	} {
		code, _, errOut := runCLI(t, append([]string{"policy", "eval", "-s", "localhost:5000/app:v1", "-c", res}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, want 2 mentioning %q: %s", c.args, code, c.msg, errOut)
		}
	}
}
