package config

import (
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

const guideStore = `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata:
  name: store-oras
spec:
  name: oras
  parameters:
    authProvider:
      name: azureWorkloadIdentity
      clientID: 00000000-0000-0000-0000-000000000000
    cosignEnabled: true
---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata:
  name: fixtures
spec:
  name: oci-layout
  parameters:
    path: ./fixtures
    scopes: ["myregistry.io/*"]
`

func TestLoadStores(t *testing.T) {
	workloadIdentityEnv(t)
	res, err := Load(strings.NewReader(guideStore))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stores) != 2 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "Namespace") {
		t.Fatalf("stores %d, skipped %v", len(res.Stores), res.Skipped)
	}
	cfgs, err := res.StoreConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if c := cfgs[0]; c.Name != "store-oras" || c.Type != oras.TypeRemote || !c.CosignEnabled || c.Auth == nil {
		t.Errorf("guide store: %+v", c)
	}
	if c := cfgs[1]; c.Type != oras.TypeLayout || c.Path != "./fixtures" || len(c.Scopes) != 1 {
		t.Errorf("layout store: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"kind: Store\nmetadata: {name: x}", "apiVersion and kind are required"},
		{"apiVersion: config.ratify.deislabs.io/v2\nkind: Store\nmetadata: {name: x}", "unsupported apiVersion"},
		{"apiVersion: config.ratify.deislabs.io/v1alpha1\nkind: KeyManagementProvider\nmetadata: {name: x}", "unknown kind KeyManagementProvider"},
		{"apiVersion: config.ratify.deislabs.io/v1alpha1\nkind: Policy\nmetadata: {Name: configpolicy}", "metadata.name is required"},
		{"apiVersion: config.ratify.deislabs.io/v1alpha1\nkind: Store\nmetadata: {name: x}\nspec: {name: [oras]}", `Store "x"`},
		{"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nspec: {name: oras}", "metadata.name is required"},
		{"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nmetadata: {name: x}\nspec: [1, 2]", "Store \"x\""},
		{"a: [unclosed", "document 1"},
		{"---\n---\n- just\n- a list", "document"},
		{"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: StoreList\nmetadata: {name: x}", "unknown kind StoreList"},
		{"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nmetadata: {Name: x}", "metadata.name is required"},
		{"apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nmetadata: {name: x}\nspec: {name: [oras]}", `Store "x"`},
	} {
		_, err := Load(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.doc, err, c.want)
		}
	}
	if _, err := Load(strings.NewReader(strings.Repeat("#", MaxFileBytes+1))); err == nil {
		t.Error("oversized file accepted")
	}
}

// FuzzLoad: any input yields resources or an error, never a panic.
func FuzzLoad(f *testing.F) {
	f.Add(guideStore)
	f.Add("apiVersion: config.ratify.deislabs.io/v1beta1\nkind: Store\nmetadata: {name: x}\nspec: {parameters: {useHttp: true}}")
	f.Add("---\n---\n")
	f.Add("{\"apiVersion\": 1}")
	for _, c := range unknownFieldCases {
		f.Add(c.doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		res, err := Load(strings.NewReader(doc))
		if err != nil {
			return
		}
		_, _ = res.StoreConfigs()
		for _, obj := range objects(res) {
			_, _, _ = v1beta1.Parameters(obj)
		}
	})
}
