package cluster_test

import (
	"testing"

	"github.com/seed-12b584bc/ratify/test/cluster"
)

// kubectl's tables for two kinds: a value in ISSUCCESS, an error beside
// false, and a resource with no status yet.
func TestIsSuccessColumn(t *testing.T) {
	out := `NAME                                         ISSUCCESS   ERROR   AGE
store.config.ratify.deislabs.io/store-oras   true                3s

NAME                                                          ISSUCCESS   ERROR                          LASTFETCHEDTIME   AGE
keymanagementprovider.config.ratify.deislabs.io/cosign-key    true                                       2026-12-01T12:00:00Z   3s
keymanagementprovider.config.ratify.deislabs.io/bad           false       contentType is required                          3s
keymanagementprovider.config.ratify.deislabs.io/new                                                                        1s
`
	got := cluster.IsSuccessColumn(out)
	want := map[string]string{"store/store-oras": "true", "keymanagementprovider/cosign-key": "true",
		"keymanagementprovider/bad": "false", "keymanagementprovider/new": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}
