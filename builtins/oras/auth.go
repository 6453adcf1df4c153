package oras

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// AuthProvider supplies the credential for a registry host. The store asks
// for it whenever the registry challenges (Basic or Bearer token exchange is
// then done by oras-go's auth client). Implementations must be safe for
// concurrent use; later providers (Azure workload identity, Kubernetes
// secrets) implement the same interface.
type AuthProvider interface {
	Credential(ctx context.Context, registry string) (auth.Credential, error)
}

// AuthProviderFunc adapts a function to AuthProvider.
type AuthProviderFunc func(ctx context.Context, registry string) (auth.Credential, error)

// Credential calls f.
func (f AuthProviderFunc) Credential(ctx context.Context, registry string) (auth.Credential, error) {
	return f(ctx, registry)
}

// Anonymous is the provider with no credentials.
var Anonymous AuthProvider = AuthProviderFunc(func(context.Context, string) (auth.Credential, error) {
	return auth.EmptyCredential, nil
})

// StaticAuth answers Username and Password to the registry hosts in Hosts
// (entries as in BoundTo) and the empty credential to every other host.
// With no Hosts it answers no host: a static password never goes to a
// registry it was not configured for.
type StaticAuth struct {
	Username string
	Password string
	Hosts    []string
}

// Credential returns the static credential when registry is one of Hosts.
func (s StaticAuth) Credential(ctx context.Context, registry string) (auth.Credential, error) {
	cred := auth.Credential{Username: s.Username, Password: s.Password}
	return BoundTo(s.Hosts, AuthProviderFunc(func(context.Context, string) (auth.Credential, error) {
		return cred, nil
	})).Credential(ctx, registry)
}

// NewDockerConfigAuth reads credentials the way the docker CLI does: from
// path when given, else from $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, including credential helpers. A missing file means
// anonymous access, as with docker.
func NewDockerConfigAuth(path string) (AuthProvider, error) {
	var (
		store credentials.Store
		err   error
	)
	opts := credentials.StoreOptions{}
	if path != "" {
		store, err = credentials.NewStore(path, opts)
	} else {
		store, err = credentials.NewStoreFromDocker(opts)
	}
	if err != nil {
		return nil, fmt.Errorf("docker config credentials: %w", err)
	}
	get := credentials.Credential(store)
	return AuthProviderFunc(func(ctx context.Context, registry string) (auth.Credential, error) {
		return get(ctx, registry)
	}), nil
}
