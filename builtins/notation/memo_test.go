package notation

import (
	"context"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

// The same opts are decoded once per engine; their warnings are each
// report's own; opts that do not parse are not remembered; without the
// engine's memos nothing is.
func TestPreparedOptionsRemembered(t *testing.T) {
	memo := optionsMemo(decl.WithMemos(context.Background(), decl.NewMemos()))
	p := newPKI(t, sample.Options{})
	opts := goodOpts(p)
	opts["warnings"] = []any{"from the engine"}
	first, err := prepare(memo, opts)
	if err != nil || first.verifier == nil {
		t.Fatal(err)
	}
	again, err := prepare(memo, goodOpts(p))
	if err != nil || again == first {
		t.Fatalf("other opts answered the same: %v", err)
	}
	same, err := prepare(memo, opts)
	if err != nil || same != first {
		t.Fatalf("the same opts decoded again: %v", err)
	}
	w := same.warnings()
	w[0] = "changed"
	if first.opts.Warnings[0] != "from the engine" {
		t.Fatal("a report's warnings are the remembered options'")
	}
	bad := map[string]any{"trustPolicy": "not json"}
	for i := 0; i < 2; i++ {
		if _, err := prepare(memo, bad); err == nil {
			t.Fatalf("try %d: bad options accepted", i)
		}
	}
	none := optionsMemo(context.Background())
	a, errA := prepare(none, opts)
	b, errB := prepare(none, opts)
	if errA != nil || errB != nil || a == b {
		t.Fatalf("without memos the options were remembered (%v, %v)", errA, errB)
	}
}
