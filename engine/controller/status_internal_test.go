package controller

import "testing"

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
