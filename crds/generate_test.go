// Package crds_test checks that the generated code and CRD manifests match
// the API types: run `make generate` after changing crds/v1beta1.
package crds_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/seed-12b584bc/ratify/test/tools"
)

func TestGeneratedFilesAreCurrent(t *testing.T) {
	cg := tools.Path(t, "controller-gen")
	out := t.TempDir()
	crdDir, objDir := filepath.Join(out, "crd"), filepath.Join(out, "obj")
	cmd := exec.Command(cg, "object", "paths=./v1beta1/...", "output:object:dir="+objDir,
		"crd", "paths=./v1beta1/...", "output:crd:artifacts:config="+crdDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, b)
	}
	compare(t, filepath.Join(objDir, "zz_generated.deepcopy.go"), "v1beta1/zz_generated.deepcopy.go")
	generated, _ := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	committed, _ := filepath.Glob("manifests/*.yaml")
	if len(generated) == 0 || len(generated) != len(committed) {
		t.Fatalf("controller-gen made %d CRDs, %d are committed; run make generate", len(generated), len(committed))
	}
	for _, g := range generated {
		compare(t, g, filepath.Join("manifests", filepath.Base(g)))
	}
}

func compare(t *testing.T, generated, committed string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%s: %v; run make generate", committed, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; run make generate", committed)
	}
}
