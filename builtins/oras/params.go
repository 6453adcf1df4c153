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
type Parameters struct {
	CosignEnabled bool `json:"cosignEnabled,omitempty"`
	UseHTTP       bool `json:"useHttp,omitempty"`
	// CAFile is a PEM bundle of extra trusted registry CAs.
	CAFile       string          `json:"caFile,omitempty"`
	AuthProvider *AuthParameters `json:"authProvider,omitempty"`
	// ReferrersCacheTTL is a Go duration ("10s"); "0s" disables the cache.
	ReferrersCacheTTL string `json:"referrersCacheTTL,omitempty"`

	// Path and Scopes describe an oci-layout store.
	Path   string   `json:"path,omitempty"`
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
	a, err := authFromParameters(p.AuthProvider)
	if err != nil {
		return Config{}, fmt.Errorf("store %q: %w", name, err)
	}
	cfg.Auth = a
	return cfg, nil
}

func authFromParameters(p *AuthParameters) (AuthProvider, error) {
	if p == nil {
		// Ratify's default is the docker config.
		return NewDockerConfigAuth("")
	}
	switch p.Name {
	case AuthDockerConfig, "":
		return NewDockerConfigAuth(p.ConfigPath)
	case AuthStatic:
		if p.Username == "" {
			return nil, fmt.Errorf("authProvider static needs a username")
		}
		return StaticAuth{Username: p.Username, Password: p.Password}, nil
	case AuthAnonymous:
		return Anonymous, nil
	}
	if laterAuthProviders[p.Name] {
		name := p.Name
		return AuthProviderFunc(func(_ context.Context, registry string) (auth.Credential, error) {
			return auth.EmptyCredential, fmt.Errorf("registry %s asks for credentials, and auth provider %q is not supported by this version of ratify", registry, name)
		}), nil
	}
	return nil, fmt.Errorf("unknown authProvider %q (supported: %s, %s, %s)", p.Name, AuthDockerConfig, AuthStatic, AuthAnonymous)
}
