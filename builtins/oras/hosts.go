package oras

import (
	"context"
	"fmt"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// normalizeHost is the canonical spelling of a registry host, the one
// references, scopes and credential bindings are compared in: lower-cased,
// without the default HTTPS port `:443`, and with Docker Hub's aliases
// (`index.docker.io`, `registry-1.docker.io`) spelled `docker.io`.
func normalizeHost(h string) string {
	h = strings.ToLower(h)
	h = strings.TrimSuffix(h, ":443")
	switch h {
	case "index.docker.io", dockerHubEndpoint:
		h = DockerHub
	}
	return h
}

// checkHostPattern validates one entry of a host list: `host[:port]` or
// `*.domain[:port]` (any subdomain of domain, not domain itself).
func checkHostPattern(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("host %q: %s; want host[:port] (such as registry.example.com or localhost:5000) or *.domain (such as *.azurecr.io)", p, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case strings.Contains(p, "://"):
		return bad("a host has no scheme")
	case strings.Contains(p, "/"):
		return bad("a host has no path")
	case strings.ContainsAny(p, " \t\r\n@"):
		return bad("not a host name")
	}
	name := p
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		name = rest
	}
	if name == "" || strings.Contains(name, "*") {
		return bad("a wildcard may only be a leading `*.`")
	}
	return nil
}

// hostPattern is one parsed, normalised host-list entry.
type hostPattern struct {
	host   string // exact host[:port]; empty for a wildcard
	suffix string // ".domain" of `*.domain`
	port   string // port of a wildcard, "" for the default
}

func parseHostPatterns(hosts []string) []hostPattern {
	var out []hostPattern
	for _, h := range hosts {
		if checkHostPattern(h) != nil {
			continue // an invalid entry matches nothing
		}
		h = normalizeHost(h)
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			name, port := splitPort(rest)
			out = append(out, hostPattern{suffix: "." + name, port: port})
			continue
		}
		out = append(out, hostPattern{host: h})
	}
	return out
}

// splitPort splits `name[:port]` (an IPv6 literal keeps its brackets).
func splitPort(h string) (string, string) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.Contains(h[i:], "]") {
		return h, ""
	}
	return h[:i], h[i+1:]
}

func matchHost(patterns []hostPattern, host string) bool {
	if host == "" {
		return false
	}
	host = normalizeHost(host)
	name, port := splitPort(host)
	for _, p := range patterns {
		if p.host != "" {
			if p.host == host {
				return true
			}
			continue
		}
		if port == p.port && len(name) > len(p.suffix) && strings.HasSuffix(name, p.suffix) {
			return true
		}
	}
	return false
}

// BoundTo restricts the credential function p to the registry hosts in
// hosts: p is asked for the credential of a host in the list, and every
// other host gets auth.EmptyCredential (anonymous access) without p being
// asked. Entries
// are `host[:port]`, compared in the canonical spelling of references
// (case-insensitive, `:443` implied, Docker Hub's aliases as `docker.io`),
// or `*.domain[:port]`, which matches every subdomain of domain (not
// domain itself, and not `domain.attacker.com`): an Azure provider is bound
// to `*.azurecr.io`, `*.azurecr.us`, `*.azurecr.cn` and its configured
// endpoints. Invalid entries match nothing; an empty list matches no host.
//
// Every provider that holds a secret is bound this way, because the store
// routes references it has no scope for to the first store without scopes:
// the binding has to hold inside the provider.
func BoundTo(hosts []string, p auth.CredentialFunc) auth.CredentialFunc {
	patterns := parseHostPatterns(hosts)
	return func(ctx context.Context, registry string) (auth.Credential, error) {
		if !matchHost(patterns, registry) {
			return auth.EmptyCredential, nil
		}
		return p(ctx, registry)
	}
}

// scopeHosts are the registry hosts named by store scopes (`host/repo`,
// `host/*`, `host/prefix*`); `*` and a wildcard host name none.
func scopeHosts(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		host, _, ok := strings.Cut(sc, "/")
		if !ok || host == "" || strings.Contains(host, "*") {
			continue
		}
		out = append(out, normalizeHost(host))
	}
	return out
}
