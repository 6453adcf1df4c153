package oras

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// parseCommon parses the references admission requests are made of
// (`host[:port]/repo[:tag][@sha256:...]`, Docker Hub's `name[:tag]` and
// `user/name[:tag]`) without the library's regular expressions, which cost
// half the CPU of a warm request (see BenchmarkParseReference). It accepts
// a strict subset of the library's grammar, host names and IPv4
// addresses but no IPv6 literal, sha256 digests only; ok is false for
// anything else,
// which parseReference then decides. Where it accepts, its answer is
// parseReference's (FuzzReferenceGrammar checks both).
func parseCommon(s string) (ref Reference, ok bool) {
	if s == "" || len(s) > maxReferenceLength {
		return Reference{}, false
	}
	name := s
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		d := name[i+1:]
		if !isSHA256(d) {
			return Reference{}, false
		}
		ref.Digest = digest.Digest(d)
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		if !isTag(name[i+1:]) {
			return Reference{}, false
		}
		ref.Tag = name[i+1:]
		name = name[:i]
	}
	host, path, found := strings.Cut(name, "/")
	switch {
	case !found:
		// `alpine`; the library refuses a bare 64-hex name (an image ID).
		if ref.Tag == "" && ref.Digest == "" && len(name) == 64 && isHex(name) {
			return Reference{}, false
		}
		host, path = DockerHub, name
	case host == "localhost" || strings.ContainsAny(host, ".:"):
		if !isHost(host) {
			return Reference{}, false
		}
	case isLowerComponent(host):
		// `user/app`: a lower-case first component without '.' or ':' is
		// a Docker Hub namespace.
		host, path = DockerHub, name
	default:
		return Reference{}, false
	}
	if !isPath(path) || len(path) > reference.RepositoryNameTotalLengthMax {
		return Reference{}, false
	}
	ref.Registry, ref.Repository = canonicalName(host, path)
	if !isRegistryName(ref.Registry) || len(ref.Repository) > reference.RepositoryNameTotalLengthMax {
		return Reference{}, false
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isSHA256 is `sha256:` and 64 lower-case hex digits, as digest.Parse
// accepts it.
func isSHA256(d string) bool {
	enc, ok := strings.CutPrefix(d, "sha256:")
	return ok && len(enc) == 64 && isHex(enc)
}

// isTag is the library's tag grammar `[\w][\w.-]{0,127}`.
func isTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(isAlnum(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isHost is the library's host grammar without IPv6 literals:
// dot-separated labels of [a-zA-Z0-9-] that neither start nor end with
// '-', with an optional :port.
func isHost(h string) bool {
	if i := strings.IndexByte(h, ':'); i >= 0 {
		port := h[i+1:]
		if port == "" {
			return false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return false
			}
		}
		h = h[:i]
	}
	if h == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for j := 0; j < len(label); j++ {
			if c := label[j]; !isAlnum(c) && !(c >= 'A' && c <= 'Z') && c != '-' {
				return false
			}
		}
	}
	return true
}

// isPath is the library's path grammar: components separated by '/'.
func isPath(p string) bool {
	if p == "" {
		return false
	}
	for c := range strings.SplitSeq(p, "/") {
		if !isLowerComponent(c) {
			return false
		}
	}
	return true
}

// isLowerComponent is one path component, `[a-z0-9]+` runs joined by one
// of the separators `.`, `_`, `__` or a run of `-`.
func isLowerComponent(c string) bool {
	if c == "" || !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isAlnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == ".", sep == "_", sep == "__", strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}
