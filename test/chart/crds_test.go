package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// The chart carries copies of the generated CRDs (Helm installs only what is
// in the chart's crds/): after `make generate` changes crds/manifests, the
// copies must follow, or `helm install` creates CRDs ratify does not serve.
func TestCRDsAreThoseOfCRDManifests(t *testing.T) {
	want := yamlFiles(t, filepath.Join(repoRoot(), "crds", "manifests"))
	got := yamlFiles(t, filepath.Join(chartDir(), "crds"))
	if len(want) == 0 {
		t.Fatal("crds/manifests has no CRD")
	}
	fix := "cp crds/manifests/*.yaml charts/ratify/crds/ after make generate"
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("charts/ratify/crds/%s is missing: %s", name, fix)
		case !bytes.Equal(g, w):
			t.Errorf("charts/ratify/crds/%s differs from crds/manifests/%s: %s", name, name, fix)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("charts/ratify/crds/%s is not in crds/manifests: remove it", name)
		}
	}
}

func yamlFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}
