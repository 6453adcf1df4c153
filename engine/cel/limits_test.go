package cel

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/seed-12b584bc/ratify/builtins"
)

// nested is an expression of depth nested all() over a list of 100
// numbers, true after 100^depth evaluations of the innermost expression.
func nested(depth int) string { return nestedOver(depth, "true") }

// nestedOver is nested with inner as the innermost expression.
func nestedOver(depth int, inner string) string {
	list := make([]string, 100)
	for i := range list {
		list[i] = strconv.Itoa(i)
	}
	l := "[" + strings.Join(list, ",") + "]"
	expr := inner
	for d := depth; d > 0; d-- {
		v := string(rune('a' + d - 1))
		expr = l + ".all(" + v + ", " + v + " >= 0 && " + expr + ")"
	}
	return expr
}

func evalWithin(t *testing.T, p *Policy, ctx context.Context, limit time.Duration) (bool, []string, error) {
	t.Helper()
	type result struct {
		allow   bool
		reasons []string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		allow, reasons, err := p.Eval(ctx, builtins.NewSession(builtins.Config{Revision: "rev"}), map[string]any{"subject": "s", "reference": "r", "digest": "d", "namespace": ""})
		done <- result{allow, reasons, err}
	}()
	select {
	case r := <-done:
		return r.allow, r.reasons, r.err
	case <-time.After(limit):
		t.Fatalf("the evaluation did not return within %v", limit)
	}
	return false, nil, nil
}

// TestEvalStopsAtDeadline: a policy that would keep a core busy for a
// minute stops soon after the request's deadline, or its cancellation,
// with an error wrapping the context's. The cost limit is lifted, so that
// the context is what stops it.
func TestEvalStopsAtDeadline(t *testing.T) {
	p, err := compile([]Validation{{Expression: `subject != ""`}, {Expression: nested(4), Message: "heavy"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := c.ctx()
			defer cancel()
			start := time.Now()
			allow, reasons, err := evalWithin(t, p, ctx, 800*time.Millisecond)
			t.Logf("returned after %v: allow %v, %v, %v", time.Since(start), allow, reasons, err)
			if allow || !errors.Is(err, c.want) {
				t.Fatalf("want a deny with an error wrapping %v, got allow %v, err %v", c.want, allow, err)
			}
		})
	}
}

// TestCostEstimateBoundsEvaluation checks the assumption that lets a
// validation run without cost tracking: the checker's estimated maximum,
// times estimateMargin, is at least the cost its evaluation tracks, with
// ratify's evaluation options (constant folding) or without them.
func TestCostEstimateBoundsEvaluation(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	input := map[string]any{"subject": "s", "reference": "localhost:5000/app@sha256:00", "digest": "sha256:00", "namespace": "team-a"}
	for _, expr := range []string{
		`reference.startsWith("localhost:5000/") && digest.size() > 7`,
		`["sha256", "sha512"].exists(a, digest.startsWith(a + ":"))`,
		`subject in ["s", "t"] ? {"a": [1, 2, 3]}["a"].all(x, x > 0) : false`,
		`[1, 2, 3].map(x, x * 2).filter(y, y > 2).size() == 2`,
		`digest == "sha256:00" || reference.endsWith(":latest")`,
		`[1, 2, 3].all(z, {"a": {"b": {"c": 1}}}.a.b.c == 1)`,
		nested(2),
		nestedOver(1, `{"a": {"b": {"c": 1}}}["a"]["b"]["c"] == 1`),
	} {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		est, err := env.EstimateCost(ast, noEstimates{})
		if err != nil || est.Max > CostLimit/estimateMargin {
			t.Fatalf("%s: estimate %+v, %v", expr, est, err)
		}
		for _, opts := range [][]cel.ProgramOption{
			{cel.CostTracking(nil), cel.EvalOptions(cel.OptOptimize)},
			{cel.CostTracking(nil)},
		} {
			prg, err := env.Program(ast, opts...)
			if err != nil {
				t.Fatal(err)
			}
			val, det, err := prg.Eval(input)
			if err != nil || val != types.True {
				t.Fatalf("%s: %v, %v", expr, val, err)
			}
			if actual := *det.ActualCost(); actual > est.Max*estimateMargin {
				t.Errorf("%s: evaluation cost %d, estimated at most %d", expr, actual, est.Max)
			}
		}
	}
}

// TestEvalCostLimitAllocations: a validation whose estimated cost is
// within the limit runs without cost tracking, which allocates at every
// step: it costs what it cost before the limit.
func TestEvalCostLimitAllocations(t *testing.T) {
	vs := []Validation{
		{Expression: `reference.startsWith("localhost:5000/") && digest.size() > 7`},
		{Expression: `["sha256", "sha512"].exists(a, digest.startsWith(a + ":"))`},
		{Expression: nested(2)},
	}
	allocs := func(p *Policy) float64 {
		env := builtins.NewSession(builtins.Config{Revision: "rev"})
		input := map[string]any{"subject": "s", "reference": "localhost:5000/app@sha256:00", "digest": "sha256:00", "namespace": ""}
		return testing.AllocsPerRun(50, func() {
			if allow, reasons, err := p.Eval(context.Background(), env, input); !allow || err != nil {
				t.Fatal(reasons, err)
			}
		})
	}
	limited, err := Compile(vs)
	if err != nil {
		t.Fatal(err)
	}
	unlimited, err := compile(vs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := allocs(limited), allocs(unlimited); a != b {
		t.Errorf("%v allocations per evaluation with the cost limit, %v without", a, b)
	}
}

// TestEvalCostLimit: a policy over its cost limit stops, without waiting
// for the deadline, with an error that says so; one under it runs.
func TestEvalCostLimit(t *testing.T) {
	under, err := Compile([]Validation{{Expression: nested(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if allow, reasons, err := evalWithin(t, under, context.Background(), 10*time.Second); !allow || err != nil {
		t.Fatalf("a policy under the cost limit: allow %v, %v, %v", allow, reasons, err)
	}

	for _, expr := range []string{
		nested(3), nested(4),
		// The estimate of this one is unbounded (reference's size is not
		// known): only evaluation finds it over the limit.
		nestedOver(3, `reference.contains("r")`),
	} {
		p, err := Compile([]Validation{{Expression: `subject != ""`}, {Expression: expr, Message: "heavy"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		allow, reasons, err := evalWithin(t, p, ctx, 10*time.Second)
		cancel()
		t.Logf("returned after %v: allow %v, %v, %v", time.Since(start), allow, reasons, err)
		if allow || !errors.Is(err, ErrCostLimit) || !strings.Contains(err.Error(), "exceeded its cost limit") {
			t.Fatalf("want a deny with the cost limit's error, got allow %v, err %v", allow, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the cost limit's error is the deadline's: %v", err)
		}
		if len(reasons) != 1 || !strings.Contains(reasons[0], "heavy") {
			t.Errorf("reasons %q, want the heavy validation's", reasons)
		}
	}
}
