package azuresim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// check is the controller's check of a KeyManagementProvider on s (what
// its status says): a new spec builds and fetches the provider, the same
// spec again refreshes it, as every refreshInterval.
func check(t *testing.T, s *engine.Shared, p v1beta1.KeyManagementProvider) (engine.Material, error) {
	t.Helper()
	m, err := s.CheckKeyManagementProvider(context.Background(), "", p.Name, p.Spec)
	if err != nil {
		t.Logf("status error of %s: %v", p.Name, err)
	}
	return m, err
}

func keyVersions(m engine.Material) []string {
	var out []string
	for _, k := range m.Keys {
		out = append(out, k.Version)
	}
	return out
}

// The guide's rotation of the cosign key, through the engine as a cluster
// runs it (each change is checked, then the configuration rebuilt on the
// same Shared): add $KEY_VER_NEW beside $KEY_VER, disable $KEY_VER in the
// vault, remove it from the KeyManagementProvider. Then a throttled vault
// during a refresh, which keeps the last good keys in force.
func TestGuideKeyRotation(t *testing.T) {
	g := newGuideCloud(t)
	const keyName, image = "ratify-cosign", "ratify-demo/net-monitor"
	keyVer, oldKey := g.createCosignKey(t, keyName)
	g.vars["KEY_NAME"], g.vars["KEY_VER"] = keyName, keyVer
	repo := g.acr.Repository(t, g.net, image)
	oldSigned := pushCosign(t, repo, image, oldKey)
	s := g.shared()

	p := g.kmp(t, "kmp_config_cosign.yaml")
	if _, err := check(t, s, p); err != nil {
		t.Fatal(err)
	}
	e := build(t, s, g.resources(t, p))
	wantAllowed(t, e, "signed with $KEY_VER", oldSigned)

	// The key is rotated in the vault: images are signed with the new
	// version, which the provider, pinned to $KEY_VER, does not hold yet.
	newVer, newKey := g.createCosignKey(t, keyName)
	g.vars["KEY_VER_NEW"] = newVer
	newSigned := pushCosign(t, repo, image, newKey)
	wantDenied(t, e, "signed with $KEY_VER_NEW before the KMP lists it", newSigned)

	// 1. Add $KEY_VER_NEW beside $KEY_VER.
	p = g.kmp(t, "kmp_config_rotate_add.yaml")
	m, err := check(t, s, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keyVersions(m), " "); got != keyVer+" "+newVer {
		t.Errorf("keys %s, want both versions", got)
	}
	e = build(t, s, g.resources(t, p))
	wantAllowed(t, e, "signed with $KEY_VER, both listed", oldSigned)
	wantAllowed(t, e, "signed with $KEY_VER_NEW, both listed", newSigned)

	// 2. $KEY_VER leaks and is disabled in the vault. With both versions
	// still listed, the provider fails at its next refresh (as the KMP
	// document says) and every verification through it is denied, naming
	// the disabled version.
	if err := g.vault.SetEnabled(keyvaultsim.Keys, keyName, keyVer, false); err != nil {
		t.Fatal(err)
	}
	disabled := "key " + keyName + " version " + keyVer + " is disabled in the vault"
	_, err = check(t, s, p)
	if !errors.Is(err, kmp.ErrDisabled) || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), disabled) {
		t.Fatalf("refresh after the disable: %v, want a permanent error with %q", err, disabled)
	}
	before := e.Revision()
	e = build(t, s, g.resources(t, p))
	if e.Revision() == before {
		t.Error("the failed provider did not make a new revision")
	}
	for what, img := range map[string]string{"signed with the disabled $KEY_VER": oldSigned, "signed with $KEY_VER_NEW": newSigned} {
		r := wantDenied(t, e, what, img, disabled)
		t.Logf("%s: %s", what, r)
	}

	// 3. Remove $KEY_VER from the KeyManagementProvider.
	p = g.kmp(t, "kmp_config_rotate_remove.yaml")
	if m, err = check(t, s, p); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keyVersions(m), " "); got != newVer {
		t.Errorf("keys %s, want %s alone", got, newVer)
	}
	e = build(t, s, g.resources(t, p))
	wantAllowed(t, e, "signed with $KEY_VER_NEW", newSigned)
	t.Logf("signed with the removed $KEY_VER: %s", wantDenied(t, e, "signed with the removed $KEY_VER", oldSigned))

	// The vault throttles (429) a refresh: the refresh fails as transient
	// (the controller retries it) and the keys fetched before stay in
	// force, for images signed before and after.
	g.vault.Fail(-1, http.StatusTooManyRequests)
	_, err = check(t, s, p)
	g.vault.Fail(0, 0)
	if !errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("throttled refresh: %v, want a transient error with the vault's 429", err)
	}
	g.vault.Fail(-1, http.StatusTooManyRequests)
	throttled := build(t, s, g.resources(t, p))
	later := pushCosign(t, repo, image, newKey)
	wantAllowed(t, throttled, "signed with $KEY_VER_NEW while the vault throttles", newSigned)
	wantAllowed(t, throttled, "a new image signed with $KEY_VER_NEW while the vault throttles", later)
	wantDenied(t, throttled, "signed with the removed $KEY_VER while the vault throttles", oldSigned)
	g.vault.Fail(0, 0)
	if throttled.Revision() != e.Revision() {
		t.Error("a transient failure changed the revision: the held keys are the same")
	}
}

// The guide's first rotation resource repeats `version:` in one list item,
// which is not valid YAML (a repeated key). Read as it is printed, it is one
// key, the last version: $KEY_VER is no longer trusted, the opposite of
// what the step means; testdata/guide's version lists each as an item.
func TestGuideRotationYAMLAsPrinted(t *testing.T) {
	g := newGuideCloud(t)
	g.vars["KEY_NAME"], g.vars["KEY_VER"], g.vars["KEY_VER_NEW"] = "k", "v1", "v2"
	doc := strings.Replace(g.guideFile(t, "kmp_config_rotate_add.yaml"), "        version: v1\n      - name: k\n", "        version: v1 \n", 1)
	if !strings.Contains(doc, "version: v1 \n        version: v2") {
		t.Fatalf("not the guide's text:\n%s", doc)
	}
	res, err := config.Load(strings.NewReader(doc))
	if err != nil {
		t.Logf("the guide's rotation YAML as printed is refused: %v", err)
		return
	}
	p, _, err := res.KMPs[0].Spec.AzureKeyVaultParameters()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 1 || p.Keys[0].Version != "v2" {
		t.Fatalf("keys %+v: want the repeated key read as its last value", p.Keys)
	}
	t.Logf("the guide's rotation YAML as printed is read as keys %+v: $KEY_VER is dropped", p.Keys)
}
