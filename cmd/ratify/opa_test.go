package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/test/regtest"
)

// layoutFixture writes an OCI layout holding one unsigned image and, when
// attach is set, one SBOM attached to it, both under localhost:5000/app,
// and a resources file serving it offline.
func layoutFixture(t *testing.T, attach bool) (res string, img ocispec.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	store, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	img = regtest.PushImage(t, store, "localhost:5000/app:v1")
	if attach {
		regtest.PushArtifact(t, store, img, "application/spdx+json", []byte(`{}`), nil)
	}
	return layoutResources(t, dir, "localhost:5000/*"), img
}

func TestSplitOPAArgs(t *testing.T) {
	for _, c := range []struct {
		args        []string
		cfg, ns     string
		rest        []string
		errContains string
	}{
		{[]string{"eval", "-c", "x"}, "", "", []string{"eval", "-c", "x"}, ""},
		{[]string{"-c", "r.yaml", "test", "."}, "r.yaml", "", []string{"test", "."}, ""},
		{[]string{"--config=r.yaml", "-n", "team", "eval", "1"}, "r.yaml", "team", []string{"eval", "1"}, ""},
		{[]string{"--namespace", "team", "-c=r.yaml"}, "r.yaml", "team", nil, ""},
		{[]string{"--help"}, "", "", []string{"--help"}, ""},
		{[]string{"-c"}, "", "", nil, "-c needs a value"},
		{[]string{"--config="}, "", "", nil, "--config needs a value"},
	} {
		cfg, ns, rest, err := splitOPAArgs(c.args)
		if c.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), c.errContains) {
				t.Errorf("%v: error %v, want %q", c.args, err, c.errContains)
			}
			continue
		}
		if err != nil || cfg != c.cfg || ns != c.ns || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("%v: got %q %q %q %v", c.args, cfg, ns, rest, err)
		}
	}
}

// TestOpaCommand runs the built binary: OPA's commands print to the
// process's stdout.
func TestOpaCommand(t *testing.T) {
	ratify := buildRatify(t)
	res, img := layoutFixture(t, true)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.rego")
	os.WriteFile(policy, []byte(`package ratify.policy
import rego.v1
default allow := false
allow if count(oras.referrers(input.reference, "application/spdx+json")) > 0
`), 0o600)
	os.WriteFile(filepath.Join(dir, "policy_test.rego"), []byte(`package ratify.policy_test
import rego.v1
import data.ratify.policy
test_sbom_attached if policy.allow with input as {"reference": "localhost:5000/app:v1"}
test_mocked if policy.allow with input as {"reference": "x/y:z"} with oras.referrers as [{}]
`), 0o600)

	opa := func(env []string, stdin string, args ...string) (int, string) {
		cmd := exec.Command(ratify, append([]string{"opa"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		return exitCode(t, cmd)
	}
	for _, c := range []struct {
		name  string
		env   []string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"eval resolves from the layout", nil, "", []string{"-c", res, "eval", "-f", "raw", `oras.resolve("localhost:5000/app:v1").digest`}, 0, img.Digest.String()},
		{"config from the environment", []string{configEnv + "=" + res}, "", []string{"eval", "-f", "raw", `oras.resolve("localhost:5000/app:v1").digest`}, 0, img.Digest.String()},
		{"eval a policy with input", nil, `{"reference": "localhost:5000/app:v1"}`, []string{"-c", res, "eval", "-f", "raw", "-I", "-d", policy, "data.ratify.policy.allow"}, 0, "true"},
		{"test with real builtins", nil, "", []string{"-c", res, "test", dir, "-v"}, 0, "PASS: 2/2"},
		{"test without resources: mocks pass, real calls fail", nil, "", []string{"test", dir}, 2, "test_sbom_attached: FAIL"},
		{"a builtin without resources says so", nil, "", []string{"eval", "--strict-builtin-errors", `oras.resolve("localhost:5000/app:v1")`}, 2, "no ratify configuration"},
		{"check knows the builtins", nil, "", []string{"check", dir}, 0, ""},
		{"unknown command", nil, "", []string{"nope"}, 1, `unknown command "nope" for "ratify opa"`},
		{"help names ratify's flags", nil, "", []string{"--help"}, 0, "-c, --config FILE"},
		{"bad resources", nil, "", []string{"-c", "/does/not/exist", "eval", "1"}, 2, "no such file"},
	} {
		code, out := opa(c.env, c.stdin, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want %d and %q in:\n%s", c.name, code, c.code, c.want, out)
		}
	}
}
