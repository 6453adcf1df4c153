package cluster_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/test/cluster"
)

// The API server serves ratify's CRDs: the guide's Store applies with the
// real kubectl, which prints the CRD's printer columns for it.
func TestCRDsServed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	c := cluster.Start(t)

	// Cluster-scoped and empty at first: the resource is known, nothing of it exists.
	if out := c.Kubectl(t, "get", "stores.config.ratify.deislabs.io"); strings.TrimSpace(out) != "" {
		t.Fatalf("stores before apply: %q", out)
	}

	store := filepath.Join("..", "..", "cmd", "ratify", "testdata", "guide", "store_config.yaml")
	out := c.Kubectl(t, "apply", "-f", store)
	if want := "store.config.ratify.deislabs.io/store-oras created"; strings.TrimSpace(out) != want {
		t.Fatalf("apply printed %q, want %q", out, want)
	}

	out = c.Kubectl(t, "get", "store", "store-oras")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("get store printed %d lines, want a header and one row:\n%s", len(lines), out)
	}
	// The columns of crds/manifests' Store: NAME, then its additionalPrinterColumns.
	if got, want := strings.Fields(lines[0]), []string{"NAME", "ISSUCCESS", "ERROR", "AGE"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("header %q, want %q", got, want)
	}
	// No status yet (no controller runs): only the name and the age are filled.
	if row := strings.Fields(lines[1]); len(row) != 2 || row[0] != "store-oras" {
		t.Fatalf("row %q, want store-oras and its age", row)
	}

	// The applied spec is stored as written, unknown parameters included.
	if got := c.Kubectl(t, "get", "store", "store-oras", "-o", "jsonpath={.spec.name} {.spec.parameters.cosignEnabled}"); got != "oras true" {
		t.Fatalf("stored spec %q, want %q", got, "oras true")
	}
}
