// Package crds_test checks that the generated code and CRD manifests match
// the API types (run `make generate` after changing crds/v1alpha1 or
// crds/v1beta1), and that the manifests serve what Ratify's do.
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
	// One package per object run: each writes its zz_generated.deepcopy.go
	// under the same name. The CRDs need both versions at once.
	for _, pkg := range apiPackages {
		objDir := filepath.Join(out, pkg)
		controllerGen(t, cg, "object", "paths=./"+pkg+"/...", "output:object:dir="+objDir)
		compare(t, filepath.Join(objDir, "zz_generated.deepcopy.go"), pkg+"/zz_generated.deepcopy.go")
	}
	crdDir := filepath.Join(out, "crd")
	controllerGen(t, cg, "crd", "paths=./...", "output:crd:artifacts:config="+crdDir)
	generated, _ := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	committed, _ := filepath.Glob("manifests/*.yaml")
	if len(generated) == 0 || len(generated) != len(committed) {
		t.Fatalf("controller-gen made %d CRDs, %d are committed; run make generate", len(generated), len(committed))
	}
	for _, g := range generated {
		compare(t, g, filepath.Join("manifests", filepath.Base(g)))
	}
}

// apiPackages hold the API types, one version each.
var apiPackages = []string{"v1alpha1", "v1beta1"}

func controllerGen(t *testing.T, cg string, args ...string) {
	t.Helper()
	if b, err := exec.Command(cg, args...).CombinedOutput(); err != nil {
		t.Fatalf("controller-gen %v: %v\n%s", args, err, b)
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
