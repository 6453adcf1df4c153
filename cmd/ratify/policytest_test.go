package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name → content under a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const sbomPolicy = `package ratify.policy
import rego.v1
default allow := false
allow if count(oras.referrers(input.reference, "application/spdx+json")) > 0
`

const sbomCEL = `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: cel
  parameters:
    validations:
      - expression: 'oras.referrers(reference, "application/spdx+json").size() > 0'
        message: no SBOM attached
`

func TestPolicyTestRego(t *testing.T) {
	res, _ := layoutFixture(t, true)
	dir := writeFiles(t, map[string]string{
		"policy.rego": sbomPolicy,
		"policy_test.rego": `package ratify.policy_test
import rego.v1
import data.ratify.policy
test_sbom_attached if policy.allow with input as {"reference": "localhost:5000/app:v1"}
test_missing_image_denied if not policy.allow with input as {"reference": "localhost:5000/app:nope"}
test_mocked_allows if policy.allow with input as {"reference": "x/y:z"} with oras.referrers as [{}]
`,
		"data.json":      `{"expected": {"sbom": true}}`,
		"data_test.rego": "package data_test\nimport rego.v1\ntest_json_data_is_loaded if data.expected.sbom\n",
		// Not data: a YAML file that is no test is skipped, as resources are.
		"resources.yaml": "apiVersion: v1\nkind: ConfigMap\n",
	})

	code, out, errOut := runCLI(t, "policy", "test", dir, "-c", res)
	if code != 0 || !strings.Contains(out, "PASS: 4/4") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// --run selects by full name; -v lists each test.
	code, out, _ = runCLI(t, "policy", "test", dir, "-c", res, "--run", "mocked", "-v")
	if code != 0 || !strings.Contains(out, "test_mocked_allows: PASS") || !strings.Contains(out, "PASS: 1/1") {
		t.Fatalf("--run: exit %d\n%s", code, out)
	}
	// Without resources, the mocked test still passes and the others fail;
	// -c may come from the environment.
	code, out, errOut = runCLI(t, "policy", "test", dir, "--run", "sbom_attached")
	if code != 2 || !strings.Contains(out, "test_sbom_attached: FAIL") || !strings.Contains(errOut, "no resources given") {
		t.Fatalf("no resources: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv(configEnv, res)
	code, out, _ = runCLI(t, "policy", "test", dir, "--format", "json")
	var results []struct {
		Name string `json:"name"`
		Fail bool   `json:"fail"`
	}
	if err := json.Unmarshal([]byte(out), &results); code != 0 || err != nil || len(results) != 4 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
}

func TestPolicyTestFailuresAndErrors(t *testing.T) {
	res, _ := layoutFixture(t, false)
	failing := writeFiles(t, map[string]string{
		"policy.rego": sbomPolicy,
		"policy_test.rego": `package ratify.policy_test
import rego.v1
import data.ratify.policy
test_unsigned_allowed if policy.allow with input as {"reference": "localhost:5000/app:v1"}
test_typo_in_provider if count(kmp.keys("no-such-provider")) == 0
`,
	})
	code, out, errOut := runCLI(t, "policy", "test", failing, "-c", res)
	if code != 2 || !strings.Contains(out, "FAIL: 2/2") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The builtin that failed is named, since Rego only saw undefined.
	if !strings.Contains(errOut, "kmp.keys") || !strings.Contains(errOut, "no-such-provider") {
		t.Errorf("stderr does not name the failed builtin call:\n%s", errOut)
	}

	for _, c := range []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		msg   string
	}{
		{"no tests", map[string]string{"policy.rego": sbomPolicy}, nil, 1, "no tests were run"},
		{"parse error", map[string]string{"x_test.rego": "package x\ntest_x if {"}, nil, 1, "rego_parse_error"},
		{"bad format", map[string]string{"policy.rego": sbomPolicy}, []string{"--format", "xml"}, 2, "want pretty or json"},
		{"bad regexp", map[string]string{"policy.rego": sbomPolicy}, []string{"--run", "("}, 1, "--run"},
		{"bad resources", map[string]string{"policy.rego": sbomPolicy}, []string{"-c", "/does/not/exist"}, 1, "no such file"},
	} {
		dir := writeFiles(t, c.files)
		code, out, errOut := runCLI(t, append([]string{"policy", "test", dir}, c.args...)...)
		if code != c.code || !strings.Contains(out+errOut, c.msg) {
			t.Errorf("%s: exit %d, want %d mentioning %q\n%s%s", c.name, code, c.code, c.msg, out, errOut)
		}
	}
}

func TestPolicyTestCEL(t *testing.T) {
	res, _ := layoutFixture(t, true)
	dir := writeFiles(t, map[string]string{
		"sbom.cel.yaml": sbomCEL,
		"sbom_test.yaml": `policy: sbom.cel.yaml
cases:
  - name: SBOM attached
    subject: localhost:5000/app:v1
    allow: true
  - subject: localhost:5000/app:v1
    namespace: team-a
    allow: true
`,
		"nested/wrong_test.yaml": `policy: ../sbom.cel.yaml
cases:
  - name: expects a denial
    subject: localhost:5000/app:v1
    allow: false
`,
	})
	code, out, _ := runCLI(t, "policy", "test", dir, "-c", res, "-v")
	for _, want := range []string{
		"sbom_test.yaml:3:", "cel.sbom_test.test_sbom_attached: PASS", "cel.sbom_test.case_2: PASS",
		"nested/wrong_test.yaml:3:", "cel.wrong_test.test_expects_a_denial: FAIL",
		"allowed localhost:5000/app:v1 by Policy ratify-policy", "want allow: false",
		"PASS: 2/3", "FAIL: 1/3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	// Without policy:, the resources' own policy decides: here the compiled
	// default without Verifiers, which denies; reason: is a substring check.
	unsigned, _ := layoutFixture(t, false)
	dir = writeFiles(t, map[string]string{"x_test.yaml": `cases:
  - {subject: "localhost:5000/app:v1", allow: false, reason: "no signatures"}
  - {subject: "localhost:5000/app:v1", allow: false, reason: "something else"}
`})
	code, out, _ = runCLI(t, "policy", "test", dir, "-c", unsigned)
	if code != 2 || !strings.Contains(out, "case_2: FAIL") || !strings.Contains(out, `want a reason containing "something else"`) || !strings.Contains(out, "PASS: 1/2") {
		t.Fatalf("reasons: exit %d\n%s", code, out)
	}
}

func TestPolicyTestCELFileErrors(t *testing.T) {
	res, _ := layoutFixture(t, false)
	for _, c := range []struct {
		name, file string
		noConfig   bool
		msg        string
	}{
		{"typo", "cases:\n  - {subject: a/b:c, allow: true, namespce: x}\n", false, "namespce"},
		{"no allow", "cases:\n  - {subject: a/b:c}\n", false, "neither allow: true nor allow: false"},
		{"no subject", "cases:\n  - {allow: true}\n", false, "no subject"},
		{"no cases", "policy: p.yaml\n", false, "no cases"},
		{"missing policy file", "policy: nope.yaml\ncases:\n  - {subject: a/b:c, allow: true}\n", false, "nope.yaml"},
		{"no resources", "cases:\n  - {subject: a/b:c, allow: true}\n", true, "CEL tests need resources"},
	} {
		dir := writeFiles(t, map[string]string{"f_test.yaml": c.file})
		args := []string{"policy", "test", dir}
		if !c.noConfig {
			args = append(args, "-c", res)
		}
		code, out, _ := runCLI(t, args...)
		if code != 2 || !strings.Contains(out, "ERROR") || !strings.Contains(out, c.msg) {
			t.Errorf("%s: exit %d, want 2 and an error mentioning %q\n%s", c.name, code, c.msg, out)
		}
	}
}
