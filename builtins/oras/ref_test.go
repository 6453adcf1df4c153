package oras

import (
	"errors"
	"testing"
)

func TestParseReference(t *testing.T) {
	const d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	cases := []struct {
		in, want, name, tag string
	}{
		{"alpine", "docker.io/library/alpine:latest", "docker.io/library/alpine", "latest"},
		{"alpine:3.20", "docker.io/library/alpine:3.20", "docker.io/library/alpine", "3.20"},
		{"user/app:v1", "docker.io/user/app:v1", "docker.io/user/app", "v1"},
		{"docker.io/alpine", "docker.io/library/alpine:latest", "docker.io/library/alpine", "latest"},
		{"index.docker.io/user/app", "docker.io/user/app:latest", "docker.io/user/app", "latest"},
		{"localhost/app", "localhost/app:latest", "localhost/app", "latest"},
		{"localhost:5000/team/app:v2", "localhost:5000/team/app:v2", "localhost:5000/team/app", "v2"},
		{"myregistry.example.com/ratify-demo/net-monitor:v1", "myregistry.example.com/ratify-demo/net-monitor:v1", "myregistry.example.com/ratify-demo/net-monitor", "v1"},
		{"127.0.0.1:5000/app@" + d, "127.0.0.1:5000/app@" + d, "127.0.0.1:5000/app", ""},
		{"registry.io/app:v1@" + d, "registry.io/app@" + d, "registry.io/app", "v1"},
		// One spelling per registry: lower-case host, no :443, Docker Hub's aliases.
		{"LOCALHOST:5000/team-a/app", "localhost:5000/team-a/app:latest", "localhost:5000/team-a/app", "latest"},
		{"Registry.IO/app:v1", "registry.io/app:v1", "registry.io/app", "v1"},
		{"registry.io:443/app:v1", "registry.io/app:v1", "registry.io/app", "v1"},
		{"registry.io:4443/app:v1", "registry.io:4443/app:v1", "registry.io:4443/app", "v1"},
		{"[::1]:443/app", "[::1]/app:latest", "[::1]/app", "latest"},
		{"registry-1.docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx", "latest"},
		{"registry-1.docker.io/nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx", "latest"},
		{"Index.Docker.io:443/nginx", "docker.io/library/nginx:latest", "docker.io/library/nginx", "latest"},
		{"docker.io:443/user/app", "docker.io/user/app:latest", "docker.io/user/app", "latest"},
	}
	for _, c := range cases {
		ref, err := ParseReference(c.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", c.in, err)
			continue
		}
		if got := ref.String(); got != c.want {
			t.Errorf("ParseReference(%q) = %q, want %q", c.in, got, c.want)
		}
		if ref.Name() != c.name || ref.Tag != c.tag {
			t.Errorf("ParseReference(%q): name %q tag %q, want %q %q", c.in, ref.Name(), ref.Tag, c.name, c.tag)
		}
	}
}

func TestParseReferenceRejects(t *testing.T) {
	for _, in := range []string{
		"", " alpine", "alpine ", "https://registry.io/app:v1", "registry.io/app:", "registry.io/App:v1",
		"registry.io/app@sha256:abc", "registry.io/app@md5:00", "registry.io/", "registry.io/app:v1:v2",
		"registry.io/app:-bad", "reg istry.io/app", "MyHost/app:v1", "reg*.io/app", "reg_istry.io/app", "-registry.io/app",
	} {
		if ref, err := ParseReference(in); err == nil {
			t.Errorf("ParseReference(%q) = %v, want an error", in, ref)
		} else if !errors.Is(err, ErrInvalidReference) {
			t.Errorf("ParseReference(%q): %v does not wrap ErrInvalidReference", in, err)
		}
	}
}

// FuzzParseReference: parsing never panics, and whatever parses prints a
// canonical form that parses back to the same reference.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"alpine", "user/app:v1", "localhost:5000/a/b/c:tag",
		"registry.io/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"[::1]:5000/app:v1", "a.b/c:d@sha256:", "docker.io/x", "x:y:z", "@", ":", "/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("error %v does not wrap ErrInvalidReference", err)
			}
			return
		}
		again, err := ParseReference(ref.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", ref.String(), s, err)
		}
		if again.String() != ref.String() {
			t.Fatalf("%q -> %q -> %q", s, ref.String(), again.String())
		}
		// A canonical name is its own scope, and matches itself.
		if n, err := NormalizeScope(ref.Name()); err != nil || n != ref.Name() || !ScopeMatches(ref.Name(), ref.Name()) {
			t.Fatalf("NormalizeScope(%q) = %q, %v", ref.Name(), n, err)
		}
	})
}

// BenchmarkParseReference: every key of every admission request is parsed,
// so the cost per reference is on the warm path. The library/ cases are
// the same references by distribution/reference alone (parseReference),
// what the fast path saves.
func BenchmarkParseReference(b *testing.B) {
	const d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, parse := range []struct {
		name string
		fn   func(string) (Reference, error)
	}{{"", ParseReference}, {"library/", parseReference}} {
		for _, c := range []struct{ name, in string }{
			{"tag", "myregistry.example.com/ratify-demo/net-monitor:v1"},
			{"digest", "myregistry.example.com/ratify-demo/net-monitor@" + d},
			{"dockerhub", "alpine"},
			{"port", "localhost:5000/team/app:v2"},
		} {
			b.Run(parse.name+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := parse.fn(c.in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
