package controller

import (
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
)

// TestReferenceVisibility: a Verifier's status finds a provider only where
// the engine would let it use it.
func TestReferenceVisibility(t *testing.T) {
	t.Parallel()
	snap := newSnapshot()
	byName := map[string]*kind{}
	for _, k := range kinds(nil) {
		byName[k.name] = k
	}
	add := func(kd, ns, name string) {
		obj := byName[kd].newObj()
		obj.SetNamespace(ns)
		obj.SetName(name)
		snap.observe(key{kd, ns, name}, byName[kd], obj, nil, nil)
	}
	add("KeyManagementProvider", "", "cluster-key")
	add("NamespacedKeyManagementProvider", "team-a", "team-key")
	add("CertificateStore", "ratify", "own-certs")
	add("CertificateStore", "tenant-x", "tenant-certs")
	w := &statusWriter{snap: snap, ownNamespace: "ratify"}
	for _, c := range []struct {
		ns, ref string
		want    bool
	}{
		{"", "cluster-key", true},
		{"team-a", "cluster-key", true},
		{"team-a", "team-a/team-key", true},
		{"team-b", "team-a/team-key", false},
		{"", "team-a/team-key", false},
		{"", "own-certs", true},
		{"", "tenant-certs", false},
		{"tenant-x", "tenant-x/tenant-certs", true},
		{"", "missing", false},
	} {
		if got := w.exists(c.ns, c.ref); got != c.want {
			t.Errorf("%q from namespace %q: %v, want %v", c.ref, c.ns, got, c.want)
		}
	}
}

// TestPropertiesNameRelaxedSettings: a provider's status lists its keys
// and certificates without their material, and says when a setting that
// relaxes a default check is on.
func TestPropertiesNameRelaxedSettings(t *testing.T) {
	t.Parallel()
	m := engine.Material{
		Keys:  []kmp.Key{{Name: "k", Version: "1", Enabled: true, PEM: "-----BEGIN PUBLIC KEY-----"}},
		Notes: []string{"disableChallengeResourceVerification is on"},
	}
	got := properties(m, time.Unix(0, 0))
	want := `{"Keys":[{"Enabled":"true","LastRefreshed":"1970-01-01T00:00:00Z","Name":"k","Version":"1"}],"Notes":["disableChallengeResourceVerification is on"]}`
	if got != want {
		t.Fatalf("properties\n got %s\nwant %s", got, want)
	}
}

// TestRefreshIntervalFloor: a provider is fetched again at most once a
// minute, whatever its refreshInterval; inline providers never are.
func TestRefreshIntervalFloor(t *testing.T) {
	t.Parallel()
	var nkmp *kind
	for _, k := range kinds(nil) {
		if k.name == "NamespacedKeyManagementProvider" {
			nkmp = k
		}
	}
	for interval, want := range map[string]time.Duration{"1ms": time.Minute, "5m": 5 * time.Minute, "": 0} {
		obj := &v1beta1.NamespacedKeyManagementProvider{Spec: v1beta1.KeyManagementProviderSpec{Type: v1beta1.KMPAzureKeyVault, RefreshInterval: interval}}
		if got := nkmp.refresh(obj); got != want {
			t.Errorf("refreshInterval %q: requeued after %v, want %v", interval, got, want)
		}
	}
	inline := &v1beta1.NamespacedKeyManagementProvider{Spec: v1beta1.KeyManagementProviderSpec{Type: v1beta1.KMPInline, RefreshInterval: "1m"}}
	if got := nkmp.refresh(inline); got != 0 {
		t.Errorf("inline: requeued after %v", got)
	}
}
