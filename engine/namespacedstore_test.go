package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// A NamespacedStore is reported and ignored: the images of its namespace
// are still read through the cluster's Store (an empty layout in its place
// would find no signatures).
func TestNamespacedStoreIsIgnored(t *testing.T) {
	w := newWorld(t)
	nsStore := fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedStore
metadata: {name: team-store, namespace: team-a}
spec:
  name: oci-layout
  parameters: {path: %s, scopes: [%s]}`, q(t.TempDir()), q(w.host+"/team-a/*"))
	res, err := config.Load(strings.NewReader(w.resources(w.notationVerifier(w.host+"/team-a/app"), nsStore)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), res, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "NamespacedStore team-a/team-store is not supported yet: signatures are read through cluster Stores"
	if !slices.Contains(eng.Warnings(), want) {
		t.Errorf("warnings %q do not say %q", eng.Warnings(), want)
	}
	for _, ns := range []string{"team-a", ""} {
		check(t, eng.Evaluate(context.Background(), w.images["notation"], ns), verdict{allow: true})
	}
}
