package server

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString: a key or an error message is written into the response
// as encoding/json would write it, whatever bytes a pod author put in it.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "registry.example/app@sha256:ab", "quote\" back\\slash", "<script>&",
		"\x00\x1f\n\r\t\b\f", "\u2028\u2029", "\xff\xfe", "caf\u00e9 \U0001F600", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
