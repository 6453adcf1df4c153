// Package tools finds the real components tests run against (the
// distribution registry, the notation and cosign CLIs, ...), which
// test/tools/install.sh builds from pinned versions.
//
// A tool is looked up in $RATIFY_TOOL_<NAME> (e.g. RATIFY_TOOL_REGISTRY),
// then in the cache: $RATIFY_TOOLS_DIR/bin, default <repo>/.tools/bin.
// A missing tool skips the test locally and fails it when CI=true, so CI
// never passes by skipping; under -short (the unit tier) every test that
// needs a tool is skipped.
package tools

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Path returns the executable of the named tool, or ends the test. The
// unit tier (go test -short) runs no real component: a test that needs one
// is skipped there.
func Path(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real " + name + ": not part of the unit tier (-short)")
	}
	p, err := Lookup(name)
	if err == nil {
		return p
	}
	msg := "test tool " + name + " is missing (" + err.Error() + "); build it with test/tools/install.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// GatekeeperCRDs returns the directory of Gatekeeper's CRDs (its chart's
// crds/ folder, which install.sh copies next to the gatekeeper binary so
// that they match its version), or ends the test like Path.
func GatekeeperCRDs(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Gatekeeper's CRDs: not part of the unit tier (-short)")
	}
	d, err := LookupGatekeeperCRDs()
	if err == nil {
		return d
	}
	msg := "Gatekeeper's CRDs are missing (" + err.Error() + "); copy them with test/tools/install.sh gatekeeper"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// LookupGatekeeperCRDs returns the directory of Gatekeeper's CRDs:
// $RATIFY_TOOL_GATEKEEPER_CRDS, else gatekeeper-crds in the cache. A
// directory without a YAML file is missing.
func LookupGatekeeperCRDs() (string, error) {
	d := os.Getenv("RATIFY_TOOL_GATEKEEPER_CRDS")
	if d == "" {
		d = filepath.Join(Dir(), "gatekeeper-crds")
	}
	files, err := filepath.Glob(filepath.Join(d, "*.yaml"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", &os.PathError{Op: "read", Path: d, Err: os.ErrNotExist}
	}
	return d, nil
}

// Lookup returns the executable of the named tool.
func Lookup(name string) (string, error) {
	if p := os.Getenv("RATIFY_TOOL_" + strings.ToUpper(name)); p != "" {
		return executable(p)
	}
	return executable(filepath.Join(Dir(), "bin", name))
}

// Dir is the tool cache.
func Dir() string {
	if d := os.Getenv("RATIFY_TOOLS_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".tools")
}

func executable(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", &os.PathError{Op: "exec", Path: p, Err: os.ErrPermission}
	}
	return p, nil
}
