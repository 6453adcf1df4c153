package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// BenchmarkEvaluateCached is the per-decision cost of policy evaluation
// once builtin results are cached (the registry is not asked again): the
// price ratify pays per admitted image beyond the decision cache.
func BenchmarkEvaluateCached(b *testing.B) {
	w := newWorld(b)
	scope := w.host + "/team-a/app"
	policies := map[string]string{
		"compiled": w.resources(w.notationVerifier(scope), cosignVerifier(cosignDefault)),
		"rego":     w.resources(w.regoPolicy(scope, "all")),
		"cel":      w.resources(w.celPolicy(scope, "all")),
	}
	for _, kind := range []string{"compiled", "rego", "cel"} {
		b.Run(kind, func(b *testing.B) {
			res, err := config.Load(strings.NewReader(policies[kind]))
			if err != nil {
				b.Fatal(err)
			}
			eng, err := engine.New(context.Background(), res, engine.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			image := w.images["notation"]
			if d := eng.Evaluate(ctx, image, ""); !d.Allow {
				b.Fatalf("warm-up denied: %v", d.Reasons)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := eng.Evaluate(ctx, image, ""); !d.Allow {
					b.Fatalf("denied: %v", d.Reasons)
				}
			}
		})
	}
}
