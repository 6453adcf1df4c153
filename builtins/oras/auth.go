package oras

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// Credentials are oras-go's auth.CredentialFunc: the store asks its
// Config.Auth for the credential of a registry host whenever the registry
// challenges (Basic or Bearer token exchange is then done by oras-go's
// auth client), so any oras-go credential function plugs in: a docker
// config's (NewDockerConfigAuth), a static one (StaticAuth), later Azure
// workload identity or Kubernetes secrets. Functions must be safe for
// concurrent use, and every one that holds a secret is bound to its hosts
// (BoundTo).

// AuthProvider is an auth provider with state of its own, the tokens it
// exchanges and renews (the Azure providers): every registry store binds
// it to itself (Config.Provider), so that its exchanges go through the
// store's transport and options and its tokens live as long as the store.
type AuthProvider interface {
	// Bind returns the credential function the store uses in place of
	// Config.Auth, and a wrapper of the store's client transport (nil for
	// none), through which the provider sees the answers to the
	// credentials it gave: a refused one is dropped and the request tried
	// once more with a new one.
	Bind(AuthEnv) (auth.CredentialFunc, func(http.RoundTripper) http.RoundTripper)
}

// AuthEnv is what a registry store gives the auth provider it binds.
type AuthEnv struct {
	// Transport reaches the store's registries: its CA bundle and
	// Options.WrapTransport (a provider's exchanges with a registry count
	// as registry requests), without the retries and the decision budget
	// of registry reads.
	Transport http.RoundTripper
	// IdentityTransport, ObserveExchange and Logger are the store's Options.
	IdentityTransport http.RoundTripper
	ObserveExchange   func(kind string, d time.Duration, err error)
	Logger            *slog.Logger
	// Report, when set, is told the outcome of each exchange by registry
	// host ("" for the identity's own token): the store's status.
	Report func(host string, err error)
}

// Anonymous is the credential function with no credentials.
func Anonymous(context.Context, string) (auth.Credential, error) {
	return auth.EmptyCredential, nil
}

// StaticAuth answers Username and Password to the registry hosts in Hosts
// (entries as in BoundTo) and the empty credential to every other host.
// With no Hosts it answers no host: a static password never goes to a
// registry it was not configured for. Its Credential method is the
// credential function (Config{Auth: StaticAuth{...}.Credential}).
type StaticAuth struct {
	Username string
	Password string
	Hosts    []string
}

// Credential returns the static credential when registry is one of Hosts.
func (s StaticAuth) Credential(ctx context.Context, registry string) (auth.Credential, error) {
	cred := auth.Credential{Username: s.Username, Password: s.Password}
	return BoundTo(s.Hosts, func(context.Context, string) (auth.Credential, error) {
		return cred, nil
	})(ctx, registry)
}

// NewDockerConfigAuth reads credentials the way the docker CLI does: from
// path when given, else from $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, including credential helpers. A missing file means
// anonymous access, as with docker.
func NewDockerConfigAuth(path string) (auth.CredentialFunc, error) {
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
	return credentials.Credential(store), nil
}
