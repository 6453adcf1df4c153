package oras

import (
	"context"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Bounds of a registry client's auth cache: the auth scheme of at most
// authCacheRegistries hosts, and tokens (one per host and repository
// scope) up to authCacheTokenBytes.
const (
	authCacheRegistries       = 4096
	authCacheTokenBytes int64 = 8 << 20
)

// boundedAuthCache is oras-go's auth.Cache with bounds: oras-go's own
// auth.NewCache keeps every host and token forever, and images may name
// any number of hosts and repositories. Evicted entries only cost a new
// token exchange.
type boundedAuthCache struct {
	schemes *lru.Cache[string, auth.Scheme]
	tokens  *lru.Cache[tokenKey, string]
}

type tokenKey struct {
	registry string
	scheme   auth.Scheme
	key      string
}

func newBoundedAuthCache() *boundedAuthCache {
	return &boundedAuthCache{
		schemes: lru.New[string, auth.Scheme](authCacheRegistries, 0),
		tokens:  lru.New[tokenKey, string](authCacheTokenBytes, 0),
	}
}

var _ auth.Cache = (*boundedAuthCache)(nil)

// GetScheme returns the scheme last used with registry.
func (c *boundedAuthCache) GetScheme(_ context.Context, registry string) (auth.Scheme, error) {
	if s, ok := c.schemes.Get(registry); ok {
		return s, nil
	}
	return auth.SchemeUnknown, errdef.ErrNotFound
}

// GetToken returns the token cached for registry, scheme and key.
func (c *boundedAuthCache) GetToken(_ context.Context, registry string, scheme auth.Scheme, key string) (string, error) {
	if s, ok := c.schemes.Get(registry); !ok || s != scheme {
		return "", errdef.ErrNotFound
	}
	if t, ok := c.tokens.Get(tokenKey{registry, scheme, key}); ok {
		return t, nil
	}
	return "", errdef.ErrNotFound
}

// Set fetches a token and caches it. Concurrent fetches of one token are
// not merged: each caller's context (deadline, budget) governs its own
// request.
func (c *boundedAuthCache) Set(ctx context.Context, registry string, scheme auth.Scheme, key string, fetch func(context.Context) (string, error)) (string, error) {
	token, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	c.schemes.Add(registry, scheme, 1)
	c.tokens.Add(tokenKey{registry, scheme, key}, token, int64(len(registry)+len(key)+len(token)+64))
	return token, nil
}
