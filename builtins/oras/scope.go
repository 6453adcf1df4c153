package oras

import (
	"fmt"
	"strings"
)

// NormalizeScope returns scope in the canonical spelling of references,
// by the function ParseReference uses (canonicalName), so that it is
// compared with Reference.Name() by plain equality or prefix: the host
// before the first `/` is lower-cased, loses `:443`, and Docker Hub's
// aliases become `docker.io` (with `library/` before a one-component
// repository). A scope is
//   - `*`: every image;
//   - `host/repo`: that repository;
//   - `host/prefix*` or `host/*`: repositories starting with the prefix;
//   - `prefix*` without `/`: every registry host starting with prefix.
//     Ratify accepts it; it also matches `prefix.attacker.com`, so the
//     cosign compiler warns and stores refuse it.
//
// The wildcard may only end a scope. The store's routing, the cosign trust
// policies compiled to Rego and notation's registryScopes all normalise
// with this function and match as ScopeMatches does.
func NormalizeScope(scope string) (string, error) {
	if scope == "*" {
		return scope, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("scope %q: %s", scope, why)
	}
	switch {
	case scope == "":
		return bad("empty")
	case strings.ContainsAny(scope, " \t\r\n"):
		return bad("contains whitespace")
	case strings.Contains(scope, "://"):
		return bad("a scope has no scheme")
	case strings.Contains(scope, "@"):
		return bad("a scope names repositories, not a digest")
	case strings.Count(scope, "*") > 1 || (strings.Contains(scope, "*") && !strings.HasSuffix(scope, "*")):
		return bad("a wildcard may only end a scope")
	}
	host, repo, found := strings.Cut(scope, "/")
	if !found {
		if strings.HasSuffix(scope, "*") {
			// A prefix of host names: only the case can be normalised.
			return strings.ToLower(scope), nil
		}
		return normalizeHost(scope), nil
	}
	if host == "" {
		return bad("missing the registry host")
	}
	host, repo = canonicalName(host, repo)
	return host + "/" + repo, nil
}

// ScopeMatches reports whether scope covers the repository name, a
// `host/repo` as Reference.Name() returns it. Both are normalised first
// (NormalizeScope), so the spelling of the host does not matter; then the
// scope `*` matches everything, a scope ending in `*` matches names that
// start with what precedes it, and any other scope matches only itself.
// An invalid scope matches nothing.
func ScopeMatches(scope, name string) bool {
	s, err := NormalizeScope(scope)
	if err != nil {
		return false
	}
	n, err := NormalizeScope(name)
	if err != nil || strings.Contains(n, "*") {
		return false
	}
	return matchNormalizedScope(s, n)
}

// matchNormalizedScope is ScopeMatches on a normalised scope and name; the
// compiled Rego's scope_matches is the same rule.
func matchNormalizedScope(scope, name string) bool {
	switch {
	case scope == "*", scope == name:
		return true
	case strings.HasSuffix(scope, "*"):
		return strings.HasPrefix(name, strings.TrimSuffix(scope, "*"))
	}
	return false
}
