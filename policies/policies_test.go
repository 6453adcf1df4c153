// Package policies_test runs the shipped policies' tests through the ratify
// binary, against real signatures made at test time by `ratify policy
// fixtures`, as a user runs them: the signed images in an OCI layout under
// the names the Rego tests use (localhost:5001/app:<tag>, ...), and the
// resources to test with, so every verification is offline.
package policies_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/seed-12b584bc/ratify/test/sign"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// world is the binary and the fixtures it wrote.
type world struct {
	ratify string // the binary
	dir    string // what `ratify policy fixtures` wrote
	res    string // its resources file
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{ratify: buildRatify(t), dir: filepath.Join(t.TempDir(), "fixtures")}
	out := run(t, 0, w.ratify, "policy", "fixtures", w.dir)
	w.res = filepath.Join(w.dir, "resources.yaml")
	if !strings.Contains(out, w.res) {
		t.Fatalf("ratify policy fixtures does not name %s:\n%s", w.res, out)
	}
	return w
}

// images are the fixture images in the layout, by the names policies use.
func (w *world) images(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, "layout", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range index.Manifests {
		// Cosign signatures are tagged sha256-<hex>.sig beside their image.
		if name := m.Annotations["org.opencontainers.image.ref.name"]; name != "" && !strings.HasSuffix(name, ".sig") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no image in the layout:\n%s", b)
	}
	return names
}

// otherKeys writes the fixtures' resources with the cosign keys swapped and
// another CA trusted for notation.
func (w *world) otherKeys(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(w.res)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	values := map[string]string{}
	parsed := make([]map[string]any, len(docs))
	for i, d := range docs {
		if err := yaml.Unmarshal([]byte(d), &parsed[i]); err != nil {
			t.Fatal(err)
		}
		if parsed[i]["kind"] == "KeyManagementProvider" {
			name := parsed[i]["metadata"].(map[string]any)["name"].(string)
			values[name] = parsed[i]["spec"].(map[string]any)["parameters"].(map[string]any)["value"].(string)
		}
	}
	replace := map[string]string{
		"notation-certs": sign.NewPKI(t, sign.Options{CommonName: "ratify-policies"}).CAPEM(),
		"cosign-key-1":   values["cosign-key-2"],
		"cosign-key-2":   values["cosign-key-1"],
	}
	for i, doc := range parsed {
		if doc["kind"] != "KeyManagementProvider" {
			continue
		}
		name := doc["metadata"].(map[string]any)["name"].(string)
		if v, ok := replace[name]; ok {
			if v == "" {
				t.Fatalf("%s has no provider %s", w.res, name)
			}
			doc["spec"].(map[string]any)["parameters"].(map[string]any)["value"] = v
			delete(replace, name)
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = string(out)
	}
	if len(replace) > 0 {
		t.Fatalf("%s lacks the providers %v", w.res, replace)
	}
	path := filepath.Join(t.TempDir(), "other-keys.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type testResult struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Fail    bool   `json:"fail"`
	Error   any    `json:"error"`
}

func TestShippedPolicies(t *testing.T) {
	w := newWorld(t)
	res := w.res

	t.Run("ratify policy test", func(t *testing.T) {
		out := run(t, 0, w.ratify, "policy", "test", ".", "-c", res, "-v")
		if m := regexp.MustCompile(`PASS: (\d+)/(\d+)`).FindStringSubmatch(out); m == nil || m[1] != m[2] {
			t.Fatalf("output:\n%s", out)
		}
		var results []testResult
		out, _ = runSplit(t, 0, w.ratify, "policy", "test", ".", "-c", res, "--format", "json")
		if err := json.Unmarshal([]byte(out), &results); err != nil {
			t.Fatal(err)
		}
		// Every policy is tested, with a negative case, in Rego; the CEL
		// policy by its cases.
		negative := map[string]bool{}
		for _, r := range results {
			if r.Fail || r.Error != nil {
				t.Errorf("%s.%s failed", r.Package, r.Name)
			}
			if _, ok := negative[r.Package]; !ok {
				negative[r.Package] = false
			}
			if strings.Contains(r.Name, "denied") || strings.Contains(r.Name, "denies") || strings.Contains(r.Name, "other_key") {
				negative[r.Package] = true
			}
		}
		for _, pkg := range []string{"notation_or_cosign", "both_required", "exempt_namespaces", "key_rotation", "per_registry_keys"} {
			if neg, ok := negative["data.ratify.policies."+pkg+"_test"]; !ok || !neg {
				t.Errorf("%s: tests ran %v, with a negative case %v", pkg, ok, neg)
			}
		}
		if neg, ok := negative["cel.per_registry_keys_test"]; !ok || !neg {
			t.Errorf("the CEL cases ran %v, with a negative case %v", ok, neg)
		}
	})

	t.Run("tests fail with other keys", func(t *testing.T) {
		// The keys swapped and another CA trusted: the tests that expect an
		// image to be allowed must fail, so they verify real signatures.
		swapped := w.otherKeys(t)
		var results []testResult
		out, _ := runSplit(t, 2, w.ratify, "policy", "test", ".", "-c", swapped, "--format", "json")
		if err := json.Unmarshal([]byte(out), &results); err != nil {
			t.Fatal(err)
		}
		failed := map[string]bool{}
		for _, r := range results {
			failed[r.Package+"."+r.Name] = r.Fail
		}
		for _, name := range []string{
			"data.ratify.policies.notation_or_cosign_test.test_notation_signature_allows",
			"data.ratify.policies.both_required_test.test_both_signatures_allow",
			"data.ratify.policies.exempt_namespaces_test.test_signed_runs_everywhere",
			"data.ratify.policies.per_registry_keys_test.test_registry_one_with_its_key",
			"cel.per_registry_keys_test.test_registry_one_its_key",
		} {
			if !failed[name] {
				t.Errorf("%s passed with the wrong keys", name)
			}
		}
	})

	t.Run("library policies decide in the engine", func(t *testing.T) {
		for _, c := range []struct {
			policy, image string
			code          int
		}{
			{"both-required/both_required.rego", "localhost:5001/app:both", 0},
			{"both-required/both_required.rego", "localhost:5001/app:notation", 1},
			{"key-rotation/key_rotation.rego", "localhost:5001/app:rotation-v2", 0},
			{"key-rotation/key_rotation.rego", "localhost:5001/app:rotation-v0", 1},
			{"per-registry-keys/per_registry_keys.cel.yaml", "localhost:5002/app:cosign-key-2", 0},
			{"per-registry-keys/per_registry_keys.cel.yaml", "localhost:5002/app:cosign", 1},
		} {
			run(t, c.code, w.ratify, "policy", "eval", "-c", res, "--policy", c.policy, "-s", c.image)
		}
		out := run(t, 0, w.ratify, "policy", "eval", "-c", res, "--policy", "exempt-namespaces/exempt_namespaces.rego",
			"-s", "localhost:5001/app:unsigned", "-n", "kube-system", "--explain")
		if !strings.Contains(out, "builtin calls: none") {
			t.Errorf("an exempt namespace made builtin calls:\n%s", out)
		}
	})

	t.Run("the compiled default decides as notation-or-cosign", func(t *testing.T) { compiledDefaultAgrees(t, w) })

	t.Run("ratify opa", func(t *testing.T) {
		// OPA's own test command, with the builtins bound to the resources;
		// the CEL files are data to OPA, and harmless.
		out := run(t, 0, w.ratify, "opa", "-c", res, "test", ".")
		if !strings.Contains(out, "PASS: ") {
			t.Fatalf("output:\n%s", out)
		}
		cmd := exec.Command(w.ratify, "opa", "--config="+res, "eval", "-f", "raw", "-I", "-d", "both-required", "data.ratify.policies.both_required.allow")
		cmd.Stdin = strings.NewReader(`{"reference": "localhost:5001/app:both"}`)
		if b, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "true" {
			t.Fatalf("opa eval: %v\n%s", err, b)
		}
		run(t, 0, w.ratify, "opa", "fmt", "--list", "--fail", ".")
	})

	t.Run("opa check with ratify capabilities", func(t *testing.T) {
		opa := tools.Path(t, "opa")
		caps := filepath.Join(t.TempDir(), "capabilities.json")
		run(t, 0, w.ratify, "policy", "capabilities", "-o", caps)
		run(t, 0, opa, "check", "--capabilities", caps, ".")
		// Without them, the calls and the mocks of builtins do not type-check.
		if out := run(t, 1, opa, "check", "."); !strings.Contains(out, "rego_type_error") {
			t.Errorf("plain opa check should not know the builtins:\n%s", out)
		}
	})
}

// run runs a command in the policies directory, checks its exit code and
// returns its output, stdout then stderr.
func run(t *testing.T, code int, name string, args ...string) string {
	t.Helper()
	stdout, stderr := runSplit(t, code, name, args...)
	return stdout + stderr
}

// runSplit is run with stdout and stderr apart, for machine output.
func runSplit(t *testing.T, code int, name string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != code {
		t.Fatalf("%s %s: exit %d, want %d\n%s%s", filepath.Base(name), strings.Join(args, " "), got, code, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

func buildRatify(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ratify")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/seed-12b584bc/ratify/cmd/ratify").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
