package oras

import (
	"regexp"
	"testing"
)

// hostGrammar is distribution's domain grammar, on a lower-cased host:
// validHost must agree with it.
var hostGrammar = regexp.MustCompile(`^(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(?:\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*|\[[a-f0-9:]+\])(?::[0-9]+)?$`)

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"localhost", "localhost:5000", "a.b.c", "a-b.c", "-a.b", "a-.b", "a..b", "[::1]", "[::1]:5000",
		"[]", "[::1", "a:", ":5000", "a:b", "reg_istry.io", "reg*.io", "127.0.0.1:443", "docker.io", "", ".", "a.", "[g::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validHost(s), hostGrammar.MatchString(s); got != want {
			t.Fatalf("validHost(%q) = %v, the grammar says %v", s, got, want)
		}
	})
}
