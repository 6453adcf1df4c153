package notation

import (
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// The same opts are decoded once; their warnings are each report's own;
// opts that do not parse are not remembered.
func TestPreparedOptionsRemembered(t *testing.T) {
	p := newPKI(t, sample.Options{})
	opts := goodOpts(p)
	opts["warnings"] = []any{"from the engine"}
	first, err := prepare(opts)
	if err != nil || first.verifier == nil {
		t.Fatal(err)
	}
	again, err := prepare(goodOpts(p))
	if err != nil || again == first {
		t.Fatalf("other opts answered the same: %v", err)
	}
	same, err := prepare(opts)
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
		if _, err := prepare(bad); err == nil {
			t.Fatalf("try %d: bad options accepted", i)
		}
	}
}
