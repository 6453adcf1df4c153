// Package policies_test runs the shipped policies' tests through the ratify
// binary, against real signatures made at test time: images are signed in a
// registry with notation-go and cosign's format, captured with `ratify
// fixture copy` into an OCI layout under the names the Rego tests use
// (localhost:5001/app:<tag>, ...), and the registry is stopped before any
// test runs, so every verification is offline.
package policies_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// Identity is the subject of the signing certificate the policies trust.
const identityCN = "ratify-policies"

// world is the fixtures and the keys that signed them.
type world struct {
	ratify   string // the binary
	layout   string
	good     *sign.PKI // the trusted CA and its leaf, CN=ratify-policies
	other    *sign.PKI // another CA, same CN
	impostor *sign.PKI // the trusted CA, another CN
	key1     *sign.CosignKey
	key2     *sign.CosignKey
	rotating []*sign.CosignKey // versions 0 (retired), 1, 2
}

// fixtures lists the images: name in the layout, and how it is signed.
func (w *world) fixtures(t *testing.T) map[string]func(*remote.Repository, string, ocispec.Descriptor) {
	notationBy := func(ps ...*sign.PKI) func(*remote.Repository, string, ocispec.Descriptor) {
		return func(r *remote.Repository, _ string, d ocispec.Descriptor) {
			for _, p := range ps {
				sign.Notation(t, p, r, d, sign.JWS)
			}
		}
	}
	cosignBy := func(k *sign.CosignKey) func(*remote.Repository, string, ocispec.Descriptor) {
		return func(r *remote.Repository, name string, d ocispec.Descriptor) { sign.Cosign(t, k, r, name, d, "") }
	}
	both := func(r *remote.Repository, name string, d ocispec.Descriptor) {
		notationBy(w.good)(r, name, d)
		cosignBy(w.key1)(r, name, d)
	}
	return map[string]func(*remote.Repository, string, ocispec.Descriptor){
		"localhost:5001/app:notation":           notationBy(w.good),
		"localhost:5001/app:cosign":             cosignBy(w.key1),
		"localhost:5001/app:both":               both,
		"localhost:5001/app:unsigned":           nil,
		"localhost:5001/app:notation-untrusted": notationBy(w.other),
		"localhost:5001/app:notation-impostor":  notationBy(w.impostor),
		"localhost:5001/app:two-notation":       notationBy(w.good, w.other),
		"localhost:5001/app:cosign-key-2":       cosignBy(w.key2),
		"localhost:5001/app:rotation-v0":        cosignBy(w.rotating[0]),
		"localhost:5001/app:rotation-v1":        cosignBy(w.rotating[1]),
		"localhost:5001/app:rotation-v2":        cosignBy(w.rotating[2]),
		"localhost:5002/app:cosign":             cosignBy(w.key1),
		"localhost:5002/app:cosign-key-2":       cosignBy(w.key2),
		"localhost:5003/app:cosign":             cosignBy(w.key1),
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{ratify: buildRatify(t), layout: filepath.Join(t.TempDir(), "fixtures")}
	w.good = sign.NewPKI(t, sign.Options{CommonName: identityCN})
	w.other = sign.NewPKI(t, sign.Options{CommonName: identityCN})
	w.impostor = sign.Issue(t, w.good, sign.Options{CommonName: "impostor"})
	w.key1, w.key2 = sign.NewCosignKey(t), sign.NewCosignKey(t)
	for range 3 {
		w.rotating = append(w.rotating, sign.NewCosignKey(t))
	}

	reg := regtest.StartOCI11(t, 0)
	for name, signFn := range w.fixtures(t) {
		// localhost:5001/app:tag is pushed as <reg>/r5001/app:tag and
		// captured under its fixture name.
		host, rest, _ := strings.Cut(name, "/")
		repoName, tag, _ := strings.Cut(rest, ":")
		srcRepo := "r" + strings.TrimPrefix(host, "localhost:") + "/" + repoName
		repo := regtest.Repo(t, reg.Host, srcRepo, "", "")
		d := regtest.PushImage(t, repo, tag)
		if signFn != nil {
			signFn(repo, reg.Host+"/"+srcRepo, d)
		}
		run(t, 0, w.ratify, "fixture", "copy", "-s", reg.Host+"/"+srcRepo+":"+tag, "--to", w.layout, "--plain-http", "--as", name)
	}
	reg.Stop()
	return w
}

// resources writes a resources file: the layout as the registries, and the
// key management providers the policies name, with keys as given.
func (w *world) resources(t *testing.T, certs *sign.PKI, key1, key2 *sign.CosignKey) string {
	t.Helper()
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	kmp := func(name, contentType, value string) string {
		return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: %s}
spec:
  type: inline
  parameters: {contentType: %s, value: %s}`, name, contentType, q(value))
	}
	rotating := ""
	for _, k := range w.rotating {
		rotating += k.PublicPEM()
	}
	docs := []string{
		fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: fixtures}
spec:
  name: oci-layout
  parameters:
    path: %s
    scopes: ["localhost:5001/*", "localhost:5002/*", "localhost:5003/*"]
    cosignEnabled: true`, q(w.layout)),
		kmp("notation-certs", "certificate", certs.CAPEM()),
		kmp("cosign-key-1", "key", key1.PublicPEM()),
		kmp("cosign-key-2", "key", key2.PublicPEM()),
		kmp("cosign-rotating", "key", rotating),
	}
	path := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o600); err != nil {
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
	res := w.resources(t, w.good, w.key1, w.key2)

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
		swapped := w.resources(t, w.other, w.key2, w.key1)
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
