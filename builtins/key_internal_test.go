package builtins

import (
	"encoding/json"
	"testing"
)

// TestCallKey: the key of a call is its meaning: the order of an object's
// keys and the spelling of a number do not matter; anything else does, and
// no two argument lists share a key by concatenation.
func TestCallKey(t *testing.T) {
	t.Parallel()
	same := []struct {
		name string
		a, b []any
	}{
		{"object key order", []any{map[string]any{"a": "1", "b": []any{"x"}}}, []any{map[string]any{"b": []any{"x"}, "a": "1"}}},
		{"number spelling", []any{json.Number("2")}, []any{2.0}},
	}
	for _, c := range same {
		if callKey("f", c.a) != callKey("f", c.b) {
			t.Errorf("%s: keys differ", c.name)
		}
	}
	differ := []struct {
		name string
		a, b []any
	}{
		{"concatenated strings", []any{"ab", "c"}, []any{"a", "bc"}},
		{"string vs number", []any{"1"}, []any{1.0}},
		{"null vs empty", []any{nil}, []any{""}},
		{"bool", []any{true}, []any{false}},
		{"nested lists", []any{[]any{[]any{"a"}, "b"}}, []any{[]any{[]any{"a", "b"}}}},
		{"object vs list", []any{map[string]any{"a": "b"}}, []any{[]any{"a", "b"}}},
		{"more arguments", []any{"a"}, []any{"a", nil}},
	}
	for _, c := range differ {
		if callKey("f", c.a) == callKey("f", c.b) {
			t.Errorf("%s: keys collide", c.name)
		}
	}
	if callKey("f", []any{"a"}) == callKey("g", []any{"a"}) {
		t.Error("function name not in the key")
	}
}

func TestPinnedArg(t *testing.T) {
	t.Parallel()
	for arg, want := range map[any]bool{
		"r/app@sha256:abc":  true,
		"r/app:v1":          false,
		"r/app:v1@sha512:x": true,
		nil:                 false,
	} {
		if got := pinnedArg(arg); got != want {
			t.Errorf("pinnedArg(%v) = %v", arg, got)
		}
	}
}
