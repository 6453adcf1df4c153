package cel

import (
	"context"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins"
)

// BenchmarkEval is the cost of evaluating a small policy, without builtin
// calls: the work ratify adds to a decision around the expression itself.
func BenchmarkEval(b *testing.B) {
	p, err := Compile([]Validation{
		{Expression: `reference.startsWith("localhost:5000/") && digest.size() > 7`},
		{Expression: `["sha256", "sha512"].exists(a, digest.startsWith(a + ":"))`},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	env := builtins.NewSession(builtins.Config{Revision: "rev"})
	input := map[string]any{"subject": "s", "reference": "localhost:5000/app@sha256:00", "digest": "sha256:00", "namespace": ""}
	b.ReportAllocs()
	for b.Loop() {
		if allow, reasons, err := p.Eval(ctx, env, input); !allow || err != nil {
			b.Fatal(reasons, err)
		}
	}
}

// BenchmarkCostLimit is the time a validation takes to exhaust CostLimit.
func BenchmarkCostLimit(b *testing.B) {
	p, err := Compile([]Validation{{Expression: nested(4)}})
	if err != nil {
		b.Fatal(err)
	}
	env := builtins.NewSession(builtins.Config{Revision: "rev"})
	for b.Loop() {
		if _, _, err := p.Eval(context.Background(), env, map[string]any{"subject": "s", "reference": "r", "digest": "d", "namespace": ""}); err == nil {
			b.Fatal("no cost limit")
		}
	}
}
