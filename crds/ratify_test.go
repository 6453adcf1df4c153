package crds_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// ratifyModule is the Ratify release whose custom resources ours keep:
// its CRDs are read from the module cache, never imported.
const ratifyModule = "github.com/ratify-project/ratify@v1.4.4"

// Per kind, the manifests serve what Ratify's do: scope, versions (served,
// storage, deprecated), Ratify's printer columns in Ratify's order (ours
// may add columns, such as Age), the status fields and subresource, and
// every spec field Ratify has with its type, so Ratify's YAML applies.
func TestManifestsMatchRatify(t *testing.T) {
	ours := loadCRDs(t, "manifests")
	theirs := loadCRDs(t, filepath.Join(ratifyDir(t), "config", "crd", "bases"))
	if got, want := sortedKeys(ours), sortedKeys(theirs); !slices.Equal(got, want) {
		t.Errorf("kinds %v, Ratify has %v", got, want)
	}
	for kind, r := range theirs {
		o, ok := ours[kind]
		if !ok {
			continue
		}
		if o.Spec.Scope != r.Spec.Scope {
			t.Errorf("%s: scope %s, Ratify's %s", kind, o.Spec.Scope, r.Spec.Scope)
		}
		if got, want := versionSummary(o), versionSummary(r); got != want {
			t.Errorf("%s: versions %s, Ratify's %s", kind, got, want)
		}
		for _, rv := range r.Spec.Versions {
			ov := version(o, rv.Name)
			if ov == nil {
				continue
			}
			where := kind + " " + rv.Name
			compareColumns(t, where, ov.AdditionalPrinterColumns, rv.AdditionalPrinterColumns)
			if got, want := hasStatus(ov), hasStatus(&rv); got != want {
				t.Errorf("%s: status subresource %v, Ratify's %v", where, got, want)
			}
			if got, want := sortedKeys(property(ov, "status").Properties), sortedKeys(property(&rv, "status").Properties); !slices.Equal(got, want) {
				t.Errorf("%s: status fields %v, Ratify's %v", where, got, want)
			}
			covers(t, where+" spec", property(ov, "spec"), property(&rv, "spec"))
		}
	}
}

// Every kind stores v1beta1 with its status subresource, and v1alpha1,
// which the API server serves without conversion, has no field that
// v1beta1 lacks or types differently: objects round-trip.
func TestManifestVersions(t *testing.T) {
	for kind, crd := range loadCRDs(t, "manifests") {
		beta := version(crd, "v1beta1")
		if beta == nil || !beta.Storage || !beta.Served || !hasStatus(beta) {
			t.Errorf("%s: v1beta1 must be served and stored, with the status subresource: %s", kind, versionSummary(crd))
			continue
		}
		if crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
			t.Errorf("%s: conversion %s, want None", kind, crd.Spec.Conversion.Strategy)
		}
		if alpha := version(crd, "v1alpha1"); alpha != nil {
			covers(t, kind+" v1beta1 spec (v1alpha1's fields)", property(beta, "spec"), property(alpha, "spec"))
		}
	}
}

// ratifyDir is the directory of Ratify's module, downloaded into the module
// cache (offline when it is there already). It runs outside our module, so
// go.mod and go.sum are never touched. Without it the test skips locally
// and fails in CI.
func ratifyDir(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		unavailable(t, "go: %v", err)
	}
	cmd := exec.Command(goBin, "mod", "download", "-json", ratifyModule)
	cmd.Dir = t.TempDir()
	out, runErr := cmd.Output()
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		unavailable(t, "go mod download %s: %v %v %s", ratifyModule, runErr, err, m.Error)
	}
	return m.Dir
}

func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// loadCRDs reads the CRD manifests of dir, by kind.
func loadCRDs(t *testing.T, dir string) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD manifests in %s: %v", dir, err)
	}
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(b, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crds[crd.Spec.Names.Kind] = crd
	}
	return crds
}

// versionSummary is each version's name and flags, in the manifest's
// order: `v1alpha1(served,deprecated) v1beta1(served,storage)`.
func versionSummary(crd *apiextensionsv1.CustomResourceDefinition) string {
	var parts []string
	for _, v := range crd.Spec.Versions {
		var flags []string
		for _, f := range []struct {
			set  bool
			name string
		}{{v.Served, "served"}, {v.Storage, "storage"}, {v.Deprecated, "deprecated"}} {
			if f.set {
				flags = append(flags, f.name)
			}
		}
		parts = append(parts, v.Name+"("+strings.Join(flags, ",")+")")
	}
	return strings.Join(parts, " ")
}

func version(crd *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == name {
			return &crd.Spec.Versions[i]
		}
	}
	return nil
}

func hasStatus(v *apiextensionsv1.CustomResourceDefinitionVersion) bool {
	return v.Subresources != nil && v.Subresources.Status != nil
}

// property is a top-level property of a version's schema (zero when absent).
func property(v *apiextensionsv1.CustomResourceDefinitionVersion, name string) apiextensionsv1.JSONSchemaProps {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return apiextensionsv1.JSONSchemaProps{}
	}
	return v.Schema.OpenAPIV3Schema.Properties[name]
}

// compareColumns: Ratify's columns appear in ours, equal and in the same
// order; the columns we add carry other names.
func compareColumns(t *testing.T, where string, ours, theirs []apiextensionsv1.CustomResourceColumnDefinition) {
	t.Helper()
	key := func(c apiextensionsv1.CustomResourceColumnDefinition) string {
		return c.Name + " " + c.Type + " " + c.JSONPath
	}
	var kept []string
	for _, c := range ours {
		if slices.ContainsFunc(theirs, func(r apiextensionsv1.CustomResourceColumnDefinition) bool { return r.Name == c.Name }) {
			kept = append(kept, key(c))
		}
	}
	var want []string
	for _, c := range theirs {
		want = append(want, key(c))
	}
	if !slices.Equal(kept, want) {
		t.Errorf("%s: printer columns %q, Ratify's %q", where, kept, want)
	}
}

// covers: every property of want, at any depth, is in got with the same
// type (and both keep unknown fields or neither does).
func covers(t *testing.T, where string, got, want apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	if got.Type != want.Type {
		t.Errorf("%s: type %q, want %q", where, got.Type, want.Type)
	}
	if g, w := got.XPreserveUnknownFields != nil && *got.XPreserveUnknownFields, want.XPreserveUnknownFields != nil && *want.XPreserveUnknownFields; g != w {
		t.Errorf("%s: x-kubernetes-preserve-unknown-fields %v, want %v", where, g, w)
	}
	for name, w := range want.Properties {
		g, ok := got.Properties[name]
		if !ok {
			t.Errorf("%s: no field %s", where, name)
			continue
		}
		covers(t, where+"."+name, g, w)
	}
	if (want.Items == nil) != (got.Items == nil) {
		t.Errorf("%s: items %v, want %v", where, got.Items != nil, want.Items != nil)
	} else if want.Items != nil && want.Items.Schema != nil && got.Items.Schema != nil {
		covers(t, where+"[]", *got.Items.Schema, *want.Items.Schema)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
