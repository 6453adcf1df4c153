package oras

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DockerHub is the canonical registry name of Docker Hub short names.
const DockerHub = "docker.io"

// dockerHubEndpoint is where Docker Hub's registry API is actually served.
const dockerHubEndpoint = "registry-1.docker.io"

// maxReferenceLength bounds what we accept before parsing; real references
// are far shorter and the limit keeps pathological input cheap.
const maxReferenceLength = 4096

// Reference names an image: registry host, repository, and a tag and/or a
// digest. A digest, when present, is what identifies the content; the tag is
// kept only for display.
type Reference struct {
	Registry   string
	Repository string
	Tag        string
	Digest     digest.Digest
}

// ParseReference parses `host[:port]/repo[:tag][@digest]` with the
// grammar and the Docker normalisation of github.com/distribution/reference
// (names without a registry host are Docker Hub's, as docker does: `alpine`
// becomes `docker.io/library/alpine:latest`, `user/app` becomes
// `docker.io/user/app:latest`), then brings it to the one canonical
// spelling every scope, cache key and report uses (canonicalName):
//   - the host is lower-cased (`LOCALHOST:5000` is `localhost:5000`);
//   - the default HTTPS port is dropped (`registry.io:443` is `registry.io`);
//     a `useHttp` store dials such a host on 80 unless its scopes name the
//     host with `:443` (see Config.Scopes);
//   - Docker Hub's aliases `index.docker.io` and `registry-1.docker.io` are
//     `docker.io`.
//
// A host recognised only by its upper-case letters (`MyHost/app`) is
// refused: host names are case-insensitive, and in its one spelling
// (`myhost/app`) it would be a Docker Hub repository. A reference with
// neither tag nor digest gets the tag `latest`; one with both keeps both.
//
// Common references take a fast path without regular expressions
// (parseCommon) that answers as the library does.
func ParseReference(s string) (Reference, error) {
	if ref, ok := parseCommon(s); ok {
		return ref, nil
	}
	return parseReference(s)
}

// parseReference is ParseReference by the library, for every input the
// fast path (parseCommon) leaves to it.
func parseReference(s string) (Reference, error) {
	invalid := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, truncate(s), fmt.Sprintf(format, args...))
	}
	// Checks the library would also fail, said in words that say what to fix.
	switch {
	case s == "":
		return invalid("empty")
	case len(s) > maxReferenceLength:
		return invalid("longer than %d bytes", maxReferenceLength)
	case strings.ContainsAny(s, " \t\r\n"):
		return invalid("contains whitespace")
	case strings.Contains(s, "://"):
		return invalid("a reference has no scheme; drop the %q prefix", s[:strings.Index(s, "://")+3])
	case strings.IndexFunc(s, notInGrammar) >= 0:
		r := []rune(s)[strings.IndexFunc(s, notInGrammar)]
		return invalid("%q is in no image reference", r)
	case repositoryTooLong(s):
		// The library says so too, after regular expressions that take
		// milliseconds over a few kilobytes.
		return invalid("repository name longer than %d characters", reference.RepositoryNameTotalLengthMax)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return invalid("%s", explain(s, err))
	}
	domain := reference.Domain(named)
	if domain == "" {
		// The library reads `reg_istry.io/app` as a Docker Hub-less path
		// with no domain at all; a registry needs a host.
		host, _, _ := strings.Cut(s, "/")
		return invalid("registry host %q is not a host name, IP address or [IPv6] literal with an optional port", host)
	}
	var ref Reference
	ref.Registry, ref.Repository = canonicalName(domain, reference.Path(named))
	if len(ref.Repository) > reference.RepositoryNameTotalLengthMax {
		// An alias's `library/` made it longer than its canonical form may be.
		return invalid("repository name longer than %d characters", reference.RepositoryNameTotalLengthMax)
	}
	if !isRegistryName(ref.Registry) {
		if strings.ToLower(domain) != domain {
			return invalid("registry host %q is recognised only by its upper-case letters; name it with its domain or port", domain)
		}
		// `host:443` loses its port, and `host` alone is a Docker Hub namespace.
		return invalid("registry host %q is %q in its canonical spelling, which names neither a domain nor a port", domain, ref.Registry)
	}
	if t, ok := named.(reference.Tagged); ok {
		ref.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		ref.Digest = d.Digest()
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	return ref, nil
}

// notInGrammar reports whether the library's grammar has no place for r
// anywhere in a reference.
func notInGrammar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("._-:/@[]+", r)
}

// repositoryTooLong reports, cheaply, that the repository s names is
// longer than the library allows: the part after the first '/' (without
// tag and digest) is in the library's repository path, and a name without
// '/' is a Docker Hub `library/` name.
func repositoryTooLong(s string) bool {
	name := s
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	if _, path, ok := strings.Cut(name, "/"); ok {
		return len(path) > reference.RepositoryNameTotalLengthMax
	}
	return len("library/")+len(name) > reference.RepositoryNameTotalLengthMax
}

// explain turns the library's verdict on s into a reason a person can act
// on where a cheap look at s finds one; it runs only on invalid input.
func explain(s string, err error) string {
	name := s
	if i := strings.LastIndex(name, "@"); i >= 0 {
		if _, derr := digest.Parse(name[i+1:]); derr != nil {
			return "bad digest: " + derr.Error()
		}
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		if i == len(name)-1 {
			return "empty tag"
		}
		name = name[:i]
	}
	if strings.HasSuffix(name, "/") {
		return "missing repository"
	}
	return err.Error()
}

// isRegistryName reports whether a canonical host reads as a host in a
// reference: it has a domain or a port, or is `localhost` or Docker Hub.
func isRegistryName(host string) bool {
	return strings.ContainsAny(host, ".:") || host == "localhost" || host == DockerHub
}

// canonicalName is the one canonical spelling of a registry host and
// repository, shared by references (ParseReference) and scopes
// (NormalizeScope): the host as normalizeHost spells it, and on Docker Hub
// `library/` before a one-component repository (`docker.io/nginx` is
// `docker.io/library/nginx`, as the library does for `index.docker.io`
// and we do for every alias). A repository with a wildcard (a scope's
// `docker.io/ngin*`) is left as written.
func canonicalName(host, repo string) (string, string) {
	host = normalizeHost(host)
	if host == DockerHub && repo != "" && !strings.ContainsAny(repo, "/*") {
		repo = "library/" + repo
	}
	return host, repo
}

// String is the canonical form (see ParseReference): `host/repo@digest` when a digest is known
// (the tag adds nothing to identity), else `host/repo:tag`.
func (r Reference) String() string {
	switch {
	case r.Digest != "":
		return r.Name() + "@" + r.Digest.String()
	case r.Tag != "":
		return r.Name() + ":" + r.Tag
	}
	return r.Name()
}

// Name is `host/repo`, canonical for a parsed reference; scopes are
// matched against it (ScopeMatches).
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// Object is what is asked of the registry: the digest when present, else the tag.
func (r Reference) Object() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// WithDigest returns r pinned to d.
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.Digest = d
	return r
}

func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
