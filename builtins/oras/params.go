package oras

import (
	"context"
	"fmt"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
)

// StoreSettings are a Store resource's parameters as plain values: the
// engine decodes and validates the resource (crds/v1beta1) and builds the
// store's Config from them with NewConfig.
//
// Credentials are bound to the registry hosts they are configured for:
// Auth.Hosts lists them (`host[:port]`, or `*.domain` for every subdomain
// of domain); without it, the hosts of Scopes (`host/repo`, `host/*`) are
// used. Any other registry is accessed anonymously, even when the store
// serves it as the fallback store without scopes. The static provider
// needs one of the two; dockerConfig is keyed by host already and is
// additionally bound when either is given.
type StoreSettings struct {
	CosignEnabled bool
	// UseHTTP is Ratify's `useHttp`: HTTP instead of HTTPS.
	UseHTTP bool
	// CAFile is a PEM bundle of extra trusted registry CAs.
	CAFile string
	// Auth selects the auth provider; nil is Ratify's default, the docker
	// config.
	Auth *AuthSettings
	// ReferrersCacheTTL is a Go duration ("10s"); "0s" disables the cache
	// and "" is the default.
	ReferrersCacheTTL string
	// Path is the directory of an oci-layout store.
	Path string
	// Scopes limit the references the store serves (see Config.Scopes);
	// their hosts also bind the store's credentials when Auth.Hosts is
	// empty.
	Scopes []string
}

// AuthSettings select an auth provider by Ratify's names.
type AuthSettings struct {
	Name string
	// ConfigPath is a docker config.json (dockerConfig); default as docker.
	ConfigPath string
	// Username and Password are for the static provider.
	Username string
	Password string
	// Hosts are the registries the credentials are for: `host[:port]`
	// (compared case-insensitively, `:443` implied, Docker Hub's aliases as
	// `docker.io`) or `*.domain[:port]` for every subdomain of domain. When
	// empty, the hosts of the store's scopes are used. Every other registry
	// gets no credentials.
	Hosts []string

	// ClientID, Endpoints and DisableInstanceDiscovery are the Azure
	// providers' (azureWorkloadIdentity, azureManagedIdentity). ClientID is
	// the identity's client ID (default $AZURE_CLIENT_ID; for a managed
	// identity, none is the system-assigned one). Endpoints are the
	// registry hosts that get ACR credentials, in place of
	// DefaultACREndpoints() (as Ratify's `endpoints`), entries as in Hosts;
	// Hosts count as endpoints too.
	// DisableInstanceDiscovery skips Entra ID's instance discovery, for
	// private clouds whose authority Entra ID's public endpoint does not
	// know.
	ClientID                 string
	Endpoints                []string
	DisableInstanceDiscovery bool
}

// Auth provider names.
const (
	AuthDockerConfig = "dockerConfig"
	AuthStatic       = "static"
	AuthAnonymous    = "anonymous"
)

// Ratify's other providers: configurations naming them load, and a registry
// that asks for credentials gets an error that says what is missing.
var laterAuthProviders = map[string]bool{"k8Secrets": true, "awsEcrBasic": true}

// NewConfig builds the Config of the store named name (the Store resource's
// metadata name) of type storeType (its `spec.name`).
func NewConfig(name, storeType string, s StoreSettings) (Config, error) {
	cfg := Config{
		Name:          name,
		Type:          storeType,
		Scopes:        s.Scopes,
		Path:          s.Path,
		PlainHTTP:     s.UseHTTP,
		CAFile:        s.CAFile,
		CosignEnabled: s.CosignEnabled,
	}
	switch storeType {
	case TypeRemote, TypeLayout:
	default:
		return Config{}, fmt.Errorf("store %q: unknown store %q (supported: %s, %s)", name, storeType, TypeRemote, TypeLayout)
	}
	if s.ReferrersCacheTTL != "" {
		d, err := time.ParseDuration(s.ReferrersCacheTTL)
		if err != nil {
			return Config{}, fmt.Errorf("store %q: referrersCacheTTL: %w", name, err)
		}
		cfg.ReferrersTTL = d
		if d == 0 {
			cfg.ReferrersTTL = -1
		}
	}
	if a := s.Auth; a != nil && (a.Name == AuthAzureWorkloadIdentity || a.Name == AuthAzureManagedIdentity) {
		p, err := newAzureProvider(a)
		if err == nil {
			cfg.Auth, err = p.credential()
		}
		if err != nil {
			return Config{}, fmt.Errorf("store %q: %w", name, err)
		}
		cfg.Provider = p
		return cfg, nil
	}
	a, err := NewAuth(s.Auth, s.Scopes)
	if err != nil {
		return Config{}, fmt.Errorf("store %q: %w", name, err)
	}
	cfg.Auth = a
	return cfg, nil
}

// NewAuth builds the auth provider a selects for a store with the given
// scopes, bound to the hosts its credentials are for.
func NewAuth(a *AuthSettings, scopes []string) (auth.CredentialFunc, error) {
	if a == nil {
		// Ratify's default is the docker config.
		return NewDockerConfigAuth("")
	}
	for _, h := range a.Hosts {
		if err := checkHostPattern(h); err != nil {
			return nil, fmt.Errorf("authProvider.hosts: %w", err)
		}
	}
	// hosts is where the provider's credentials may go: the explicit list,
	// else the hosts the store's scopes name.
	hosts := a.Hosts
	if len(hosts) == 0 {
		hosts = scopeHosts(scopes)
	}
	bound := func(p auth.CredentialFunc) auth.CredentialFunc {
		if len(hosts) == 0 {
			return p
		}
		return BoundTo(hosts, p)
	}
	switch a.Name {
	case AuthDockerConfig, "":
		p, err := NewDockerConfigAuth(a.ConfigPath)
		if err != nil {
			return nil, err
		}
		return bound(p), nil
	case AuthStatic:
		if a.Username == "" {
			return nil, fmt.Errorf("authProvider static needs a username")
		}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("authProvider static: say which registries the credentials are for: " +
				"add authProvider.hosts (such as [registry.example.com]) or scopes with a host (such as [registry.example.com/*]); " +
				"without them the password would be sent to any registry an image names")
		}
		return StaticAuth{Username: a.Username, Password: a.Password, Hosts: hosts}.Credential, nil
	case AuthAnonymous:
		return Anonymous, nil
	case AuthAzureWorkloadIdentity, AuthAzureManagedIdentity:
		// Bound to the ACR hosts (or its endpoints), not to scopes.
		p, err := newAzureProvider(a)
		if err != nil {
			return nil, err
		}
		return p.credential()
	}
	if laterAuthProviders[a.Name] {
		name := a.Name
		return bound(auth.CredentialFunc(func(_ context.Context, registry string) (auth.Credential, error) {
			return auth.EmptyCredential, fmt.Errorf("registry %s asks for credentials, and auth provider %q is not supported by this version of ratify", registry, name)
		})), nil
	}
	return nil, fmt.Errorf("unknown authProvider %q (supported: %s, %s, %s, %s, %s)", a.Name,
		AuthDockerConfig, AuthStatic, AuthAnonymous, AuthAzureWorkloadIdentity, AuthAzureManagedIdentity)
}
