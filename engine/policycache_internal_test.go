package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/engine/config"
)

// namespacedCosign is a NamespacedVerifier of ns trusting the provider named
// provider of its namespace.
func namespacedCosign(ns, provider string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedVerifier
metadata: {name: verifier-cosign, namespace: %s}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: %s/%s}]}]`, ns, ns, provider)
}

func loadPolicies(t *testing.T, cache *policyCache, docs ...string) *policySet {
	t.Helper()
	res, err := config.Load(strings.NewReader(strings.Join(docs, "\n---\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := buildPolicies(context.Background(), res, cache)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A rebuild compiles only the policies whose inputs changed, and the cache
// holds the last build's policies only.
func TestPolicyCacheReusesUnchanged(t *testing.T) {
	var cache policyCache
	first := loadPolicies(t, &cache, namespacedCosign("team-a", "key"), namespacedCosign("team-b", "key"))
	again := loadPolicies(t, &cache, namespacedCosign("team-a", "key"), namespacedCosign("team-b", "key"))
	if again.cluster != first.cluster || again.namespaced["team-a"] != first.namespaced["team-a"] || again.namespaced["team-b"] != first.namespaced["team-b"] {
		t.Fatal("an unchanged configuration was compiled again")
	}
	changed := loadPolicies(t, &cache, namespacedCosign("team-a", "key"), namespacedCosign("team-b", "other-key"))
	if changed.namespaced["team-a"] != first.namespaced["team-a"] {
		t.Error("team-a's policy, unchanged, was compiled again")
	}
	if changed.namespaced["team-b"] == first.namespaced["team-b"] || !strings.Contains(changed.namespaced["team-b"].source, "team-b/other-key") {
		t.Errorf("team-b's changed Verifier is not in its policy:\n%s", changed.namespaced["team-b"].source)
	}
	if len(cache.last) != 3 {
		t.Errorf("cache holds %d policies, want the last build's 3", len(cache.last))
	}
	if uncached := loadPolicies(t, nil, namespacedCosign("team-a", "key")); uncached.namespaced["team-a"] == first.namespaced["team-a"] {
		t.Error("a build without a cache reused a policy")
	}
}
