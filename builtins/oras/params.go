package oras

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// Parameters are a Store resource's `spec.parameters`, as Ratify defines
// them for its `oras` store, plus `path` and `scopes` for `oci-layout`.
//
// Credentials are bound to the registry hosts they are configured for:
// `authProvider.hosts` lists them (`host[:port]`, or `*.domain` for every
// subdomain of domain); without it, the hosts of `scopes` (`host/repo`,
// `host/*`) are used. Any other registry is accessed anonymously, even when
// the store serves it as the fallback store without scopes. The `static`
// provider needs one of the two; `dockerConfig` is keyed by host already
// and is additionally bound when either is given.
type Parameters struct {
	CosignEnabled bool `json:"cosignEnabled,omitempty"`
	UseHTTP       bool `json:"useHttp,omitempty"`
	// CAFile is a PEM bundle of extra trusted registry CAs.
	CAFile       string          `json:"caFile,omitempty"`
	AuthProvider *AuthParameters `json:"authProvider,omitempty"`
	// ReferrersCacheTTL is a Go duration ("10s"); "0s" disables the cache.
	ReferrersCacheTTL string `json:"referrersCacheTTL,omitempty"`

	// Path is the directory of an oci-layout store.
	Path string `json:"path,omitempty"`
	// Scopes limit the references the store serves (see Config.Scopes);
	// their hosts also bind the store's credentials when
	// authProvider.hosts is not given.
	Scopes []string `json:"scopes,omitempty"`
}

// AuthParameters select an auth provider by Ratify's names.
type AuthParameters struct {
	Name string `json:"name"`
	// ConfigPath is a docker config.json (dockerConfig); default as docker.
	ConfigPath string `json:"configPath,omitempty"`
	// Username and Password are for the static provider.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Hosts are the registries the credentials are for: `host[:port]`
	// (compared case-insensitively, `:443` implied, Docker Hub's aliases as
	// `docker.io`) or `*.domain[:port]` for every subdomain of domain. When
	// empty, the hosts of the store's scopes are used. Every other registry
	// gets no credentials.
	Hosts []string `json:"hosts,omitempty"`
}

// Auth provider names.
const (
	AuthDockerConfig = "dockerConfig"
	AuthStatic       = "static"
	AuthAnonymous    = "anonymous"
)

// Ratify's other providers: configurations naming them load, and a registry
// that asks for credentials gets an error that says what is missing.
var laterAuthProviders = map[string]bool{
	"azureWorkloadIdentity": true, "azureManagedIdentity": true, "k8Secrets": true, "awsEcrBasic": true,
}

// ConfigFromParameters builds a store Config from a Store resource: its
// metadata name, `spec.name` (the store type) and raw `spec.parameters`.
func ConfigFromParameters(name, storeType string, raw json.RawMessage) (Config, error) {
	var p Parameters
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p); err != nil {
			return Config{}, fmt.Errorf("store %q: parameters: %w", name, err)
		}
	}
	cfg := Config{
		Name:          name,
		Type:          storeType,
		Scopes:        p.Scopes,
		Path:          p.Path,
		PlainHTTP:     p.UseHTTP,
		CAFile:        p.CAFile,
		CosignEnabled: p.CosignEnabled,
	}
	switch storeType {
	case TypeRemote, TypeLayout:
	default:
		return Config{}, fmt.Errorf("store %q: unknown store %q (supported: %s, %s)", name, storeType, TypeRemote, TypeLayout)
	}
	if p.ReferrersCacheTTL != "" {
		d, err := time.ParseDuration(p.ReferrersCacheTTL)
		if err != nil {
			return Config{}, fmt.Errorf("store %q: referrersCacheTTL: %w", name, err)
		}
		cfg.ReferrersTTL = d
		if d == 0 {
			cfg.ReferrersTTL = -1
		}
	}
	a, err := authFromParameters(p.AuthProvider, p.Scopes)
	if err != nil {
		return Config{}, fmt.Errorf("store %q: %w", name, err)
	}
	cfg.Auth = a
	return cfg, nil
}

func authFromParameters(p *AuthParameters, scopes []string) (AuthProvider, error) {
	if p == nil {
		// Ratify's default is the docker config.
		return NewDockerConfigAuth("")
	}
	for _, h := range p.Hosts {
		if err := checkHostPattern(h); err != nil {
			return nil, fmt.Errorf("authProvider.hosts: %w", err)
		}
	}
	// hosts is where the provider's credentials may go: the explicit list,
	// else the hosts the store's scopes name.
	hosts := p.Hosts
	if len(hosts) == 0 {
		hosts = scopeHosts(scopes)
	}
	bound := func(a AuthProvider) AuthProvider {
		if len(hosts) == 0 {
			return a
		}
		return BoundTo(hosts, a)
	}
	switch p.Name {
	case AuthDockerConfig, "":
		a, err := NewDockerConfigAuth(p.ConfigPath)
		if err != nil {
			return nil, err
		}
		return bound(a), nil
	case AuthStatic:
		if p.Username == "" {
			return nil, fmt.Errorf("authProvider static needs a username")
		}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("authProvider static: say which registries the credentials are for: " +
				"add authProvider.hosts (such as [registry.example.com]) or scopes with a host (such as [registry.example.com/*]); " +
				"without them the password would be sent to any registry an image names")
		}
		return StaticAuth{Username: p.Username, Password: p.Password, Hosts: hosts}, nil
	case AuthAnonymous:
		return Anonymous, nil
	}
	if laterAuthProviders[p.Name] {
		name := p.Name
		return bound(AuthProviderFunc(func(_ context.Context, registry string) (auth.Credential, error) {
			return auth.EmptyCredential, fmt.Errorf("registry %s asks for credentials, and auth provider %q is not supported by this version of ratify", registry, name)
		})), nil
	}
	return nil, fmt.Errorf("unknown authProvider %q (supported: %s, %s, %s)", p.Name, AuthDockerConfig, AuthStatic, AuthAnonymous)
}
