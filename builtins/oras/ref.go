package oras

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// DockerHub is the canonical registry name of Docker Hub short names.
const DockerHub = "docker.io"

// dockerHubEndpoint is where Docker Hub's registry API is actually served.
const dockerHubEndpoint = "registry-1.docker.io"

// maxReferenceLength bounds what we accept before parsing; real references
// are far shorter and the limit keeps pathological input cheap.
const maxReferenceLength = 4096

// validHost reports whether host (lower-cased) follows distribution's
// domain grammar: dot-separated labels of [a-z0-9-] that neither start nor
// end with '-', or an [IPv6] literal, with an optional :port. It is written
// out rather than a regular expression because every key of every request
// is parsed (a test checks it against the grammar's expression).
func validHost(host string) bool {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		port := host[i+1:]
		if port == "" {
			return false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return false
			}
		}
		host = host[:i]
	}
	if strings.HasPrefix(host, "[") {
		inner, ok := strings.CutSuffix(host[1:], "]")
		if !ok || inner == "" {
			return false
		}
		for j := 0; j < len(inner); j++ {
			if c := inner[j]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == ':') {
				return false
			}
		}
		return true
	}
	if host == "" {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for j := 0; j < len(label); j++ {
			if c := label[j]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Reference names an image: registry host, repository, and a tag and/or a
// digest. A digest, when present, is what identifies the content; the tag is
// kept only for display.
type Reference struct {
	Registry   string
	Repository string
	Tag        string
	Digest     digest.Digest
}

// ParseReference parses `host[:port]/repo[:tag][@digest]` into the one
// canonical spelling every scope, cache key and report uses:
//   - the host is lower-cased (`LOCALHOST:5000` is `localhost:5000`);
//   - the default HTTPS port is dropped (`registry.io:443` is `registry.io`);
//     a `useHttp` store dials such a host on 80 unless its scopes name the
//     host with `:443` (see Config.Scopes);
//   - Docker Hub's aliases `index.docker.io` and `registry-1.docker.io` are
//     `docker.io`, and names without a registry host are Docker Hub's, as
//     docker does: `alpine` becomes `docker.io/library/alpine:latest`,
//     `user/app` becomes `docker.io/user/app:latest`.
//
// A reference with neither tag nor digest gets the tag `latest`.
func ParseReference(s string) (Reference, error) {
	invalid := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", ErrInvalidReference, truncate(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return invalid("empty")
	}
	if len(s) > maxReferenceLength {
		return invalid("longer than %d bytes", maxReferenceLength)
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n") {
		return invalid("contains whitespace")
	}
	if strings.Contains(s, "://") {
		return invalid("a reference has no scheme; drop the %q prefix", s[:strings.Index(s, "://")+3])
	}
	var ref Reference
	name := s
	if i := strings.LastIndex(name, "@"); i >= 0 {
		d, err := digest.Parse(name[i+1:])
		if err != nil {
			return invalid("bad digest: %v", err)
		}
		ref.Digest = d
		name = name[:i]
	}
	// A tag follows the last ':' that comes after the last '/', so a port
	// (`host:5000/repo`) is never mistaken for one.
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		ref.Tag = name[i+1:]
		name = name[:i]
		if ref.Tag == "" {
			return invalid("empty tag")
		}
	}
	ref.Registry, ref.Repository = splitDomain(name)
	if ref.Repository == "" {
		return invalid("missing repository")
	}
	if !validHost(ref.Registry) {
		return invalid("registry host %q is not a host name, IP address or [IPv6] literal with an optional port", ref.Registry)
	}
	if !strings.ContainsAny(ref.Registry, ".:") && ref.Registry != "localhost" && ref.Registry != DockerHub {
		// `MyHost/app` names the host MyHost only by docker's upper-case
		// rule; host names are case-insensitive, and in its one spelling
		// (`myhost/app`) it would be a Docker Hub repository.
		return invalid("registry host %q is recognised only by its upper-case letters; name it with its domain or port", name[:strings.IndexByte(name, '/')])
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest"
	}
	// Let oras-go validate the pieces with the distribution-spec grammar.
	check := registry.Reference{Registry: ref.Registry, Repository: ref.Repository, Reference: ref.Tag}
	if ref.Tag == "" {
		check.Reference = ref.Digest.String()
	}
	if err := check.Validate(); err != nil {
		return invalid("%v", err)
	}
	if ref.Tag != "" {
		if err := check.ValidateReferenceAsTag(); err != nil {
			return invalid("%v", err)
		}
	}
	return ref, nil
}

// splitDomain separates the registry host from the repository path, with
// docker's rule: the first component is a host when it contains '.' or ':',
// is `localhost`, or has an upper-case letter. The host is normalised.
func splitDomain(name string) (string, string) {
	i := strings.IndexByte(name, '/')
	if i < 0 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
		return DockerHub, name
	}
	host, repo := normalizeHost(name[:i]), name[i+1:]
	if host == DockerHub && !strings.Contains(repo, "/") {
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
