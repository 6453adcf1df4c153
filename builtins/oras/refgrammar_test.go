package oras

import (
	"errors"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// ratifyRefuses reports whether ParseReference refuses s on a rule of its
// own, on top of distribution/reference's grammar: the length bound, a
// name the library reads without a registry host, a host named only by
// its upper-case letters, or a Docker Hub alias whose `library/` makes the
// repository longer than the library allows.
func ratifyRefuses(s string, named reference.Named) bool {
	domain := reference.Domain(named)
	host, repo := canonicalName(domain, reference.Path(named))
	return len(s) > maxReferenceLength || domain == "" ||
		!isRegistryName(host) ||
		len(repo) > reference.RepositoryNameTotalLengthMax
}

// maxCompared bounds the inputs FuzzReferenceGrammar compares with the
// library: its regular expressions take milliseconds over kilobytes, and
// the fuzzer runs an input thousands of times to minimise it. The
// grammar's own bounds (255 for a repository, 128 for a tag) are well
// within it.
const maxCompared = 1024

// FuzzReferenceGrammar: ParseReference accepts exactly what
// distribution/reference accepts, less ratify's own refusals
// (ratifyRefuses); the library reads its canonical form as the same name;
// that form parses back to itself; and the fast path, where it answers,
// answers as the library path does.
func FuzzReferenceGrammar(f *testing.F) {
	for _, s := range []string{
		"localhost", "localhost:5000/a", "a.b.c/d", "a-b.c/d", "-a.b/c", "a-.b/c", "a..b/c", "[::1]/a", "[::1]:5000/a",
		"[]/a", "[::1/a", "a:/b", ":5000/a", "a:b/c", "reg_istry.io/a", "reg*.io/a", "127.0.0.1:443/a", "docker.io/a",
		"./a", "a./b", "[g::1]/a", "MyHost/app", "LOCALHOST/app", "Index.Docker.io:443/nginx", "registry-1.docker.io/nginx",
		"a.io/b__c", "a.io/b___c", "a.io/b--c", "a.io/b.-c", "a.io/b:V1_x.-", "a.io/b:.x", "a.io/b@sha256:" + strings.Repeat("a", 64),
		"a.io/b:t@sha256:" + strings.Repeat("a", 64), "a.io/b@sha512:" + strings.Repeat("a", 128), "a.io/b@sha256:" + strings.Repeat("A", 64),
		strings.Repeat("a", 64), strings.Repeat("a", 64) + ":v1", "user/app", "user/App", "a.io/" + strings.Repeat("b", 256),
		"registry-1.docker.io/" + strings.Repeat("b", 250),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidReference):
			t.Fatalf("error %v does not wrap ErrInvalidReference", err)
		case err == nil && len(s) > maxReferenceLength:
			t.Fatalf("ParseReference accepted %d bytes", len(s))
		case err == nil:
			again, err := ParseReference(ref.String())
			if err != nil || again.String() != ref.String() || (ref.Tag == "" || ref.Digest == "") && again != ref {
				t.Fatalf("%q -> %+v -> %+v, %v", s, ref, again, err)
			}
		}
		if len(s) > maxCompared {
			return
		}
		lib, libErr := parseReference(s)
		if fast, ok := parseCommon(s); ok && (libErr != nil || fast != lib) {
			t.Fatalf("fast path %q -> %+v; library path %+v, %v", s, fast, lib, libErr)
		}
		if (err == nil) != (libErr == nil) || ref != lib {
			t.Fatalf("ParseReference(%q) = %+v, %v; library path %+v, %v", s, ref, err, lib, libErr)
		}
		named, derr := reference.ParseNormalizedNamed(s)
		switch {
		case err == nil && derr != nil:
			t.Fatalf("ParseReference(%q) = %v; the library refuses it: %v", s, ref, derr)
		case err != nil && derr == nil && !ratifyRefuses(s, named):
			t.Fatalf("ParseReference(%q): %v; the library accepts it as %s", s, err, named)
		case err != nil:
			return
		}
		if canonical, derr := reference.ParseNormalizedNamed(ref.String()); derr != nil || canonical.Name() != ref.Name() {
			t.Fatalf("the library reads the canonical form %q of %q as %v, %v", ref.String(), s, canonical, derr)
		}
	})
}
