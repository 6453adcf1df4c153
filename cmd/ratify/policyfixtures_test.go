package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPolicyFixtures writes the fixtures, decides on some with the
// resources written beside them, and writes them again with new keys.
func TestPolicyFixtures(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fx")
	code, out, errOut := runCLI(t, "policy", "fixtures", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	res := filepath.Join(dir, "resources.yaml")
	if !strings.Contains(out, "ratify policy test policies/ -c "+res) {
		t.Errorf("the output does not say how to test with the fixtures:\n%s", out)
	}
	first, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	// The compiled default of the resources' Verifiers decides on them.
	for image, want := range map[string]int{
		"localhost:5001/app:notation":           0,
		"localhost:5001/app:cosign":             0,
		"localhost:5003/app:cosign":             0,
		"localhost:5001/app:unsigned":           1,
		"localhost:5001/app:notation-untrusted": 1,
		"localhost:5001/app:cosign-key-2":       1,
	} {
		if code, out, errOut := runCLI(t, "verify", "-s", image, "-c", res); code != want {
			t.Errorf("verify %s: exit %d, want %d\n%s%s", image, code, want, out, errOut)
		}
	}

	// Again: a new layout and new keys, in place of the first.
	if code, out, errOut := runCLI(t, "policy", "fixtures", dir); code != 0 {
		t.Fatalf("second run: exit %d: %s%s", code, out, errOut)
	}
	second, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) == string(second) {
		t.Error("the second run wrote the same keys")
	}
	if code, out, errOut := runCLI(t, "verify", "-s", "localhost:5001/app:both", "-c", res); code != 0 {
		t.Errorf("after the second run: exit %d\n%s%s", code, out, errOut)
	}
}

// TestPolicyFixturesKeepsOtherFiles: DIR/layout that is not an OCI layout
// is not removed.
func TestPolicyFixturesKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "layout", "notes.txt")
	if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mine, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "policy", "fixtures", dir)
	if code != exitError || !strings.Contains(errOut, "is not an OCI layout") {
		t.Fatalf("exit %d, want %d and a message: %s", code, exitError, errOut)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("a file of DIR/layout is gone: %v", err)
	}
}

// TestPolicyFixturesREADME: the table of policies/README.md lists the
// images the command writes.
func TestPolicyFixturesREADME(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "policies", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(localhost:[^`]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		documented = append(documented, m[1])
	}
	code, out, errOut := runCLI(t, "policy", "fixtures", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var written []string
	for _, m := range regexp.MustCompile(`(?m)^  (localhost:\S+)`).FindAllStringSubmatch(out, -1) {
		written = append(written, m[1])
	}
	slices.Sort(documented)
	slices.Sort(written)
	if len(written) == 0 || !slices.Equal(documented, written) {
		t.Errorf("policies/README.md lists %q\nratify policy fixtures writes %q", documented, written)
	}
}
