package oras

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/seed-12b584bc/ratify/internal/lru"
)

// token is a secret with the times that govern its use: it is handed out
// until expires, and from renew on a request that reads it also starts a
// renewal in the background, so that in steady state no admission request
// waits on an identity service.
type token struct {
	value   string
	renew   time.Time
	expires time.Time
}

// tokenTimes are the renewal and end of use of a token obtained at
// obtained that its issuer says is valid until exp: renewal from half its
// life, use until shortly before exp (a tenth of its life, at most a
// minute), so that a clock a little ahead of the issuer's does not present
// an expired token.
func tokenTimes(obtained, exp time.Time) (renew, expires time.Time) {
	life := exp.Sub(obtained)
	if life <= 0 {
		return obtained, obtained
	}
	return obtained.Add(life / 2), exp.Add(-min(time.Minute, life/10))
}

// Bounds of a token cache: the tokens of at most tokenCacheEntries keys
// (registry hosts), and how long one fetch, detached from the requests
// waiting for it, may take.
const (
	tokenCacheEntries = 1024
	tokenFetchTimeout = 30 * time.Second
	// renewRetry is the wait before a failed background renewal is tried
	// again (at most half of the time the current token has left).
	renewRetry = 30 * time.Second
)

// tokenCache holds one token per key, fetched with fetch. Concurrent
// requests for a key share one fetch; the fetch runs on its own deadline
// (tokenFetchTimeout), so a request that gives up early does not fail the
// others, and its result is cached for the next ones.
type tokenCache struct {
	fetch func(ctx context.Context, key string) (token, error)
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	entries *lru.Cache[string, *tokenEntry]
	flights map[string]*tokenFlight
}

type tokenEntry struct {
	tok token
	// retryAt holds background renewals back after one failed.
	retryAt time.Time
}

type tokenFlight struct {
	done chan struct{}
	tok  token
	err  error
}

func newTokenCache(fetch func(context.Context, string) (token, error), log *slog.Logger) *tokenCache {
	if log == nil {
		log = slog.Default()
	}
	return &tokenCache{
		fetch:   fetch,
		now:     time.Now,
		log:     log,
		entries: lru.New[string, *tokenEntry](tokenCacheEntries, 0),
		flights: map[string]*tokenFlight{},
	}
}

// get returns key's token: the cached one while it is in use (starting a
// background renewal once it is due), else the result of a fetch shared
// with every concurrent request for key, waited for until ctx ends.
func (c *tokenCache) get(ctx context.Context, key string) (string, error) {
	c.mu.Lock()
	now := c.now()
	if e, ok := c.entries.Get(key); ok && now.Before(e.tok.expires) {
		if !now.Before(e.tok.renew) && !now.Before(e.retryAt) && c.flights[key] == nil {
			c.start(key)
		}
		v := e.tok.value
		c.mu.Unlock()
		return v, nil
	}
	f := c.flights[key]
	if f == nil {
		f = c.start(key)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tok.value, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// start fetches key's token in the background; c.mu is held.
func (c *tokenCache) start(key string) *tokenFlight {
	f := &tokenFlight{done: make(chan struct{})}
	c.flights[key] = f
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), tokenFetchTimeout)
		tok, err := c.fetch(ctx, key)
		cancel()
		c.mu.Lock()
		delete(c.flights, key)
		now := c.now()
		switch e, ok := c.entries.Get(key); {
		case err == nil:
			c.entries.Add(key, &tokenEntry{tok: tok}, 1)
		case ok && now.Before(e.tok.expires):
			// The token in use stays until it expires; the next request
			// after retryAt tries again.
			e.retryAt = now.Add(min(renewRetry, e.tok.expires.Sub(now)/2))
			c.log.Warn("token renewal failed; the current token is used until it expires",
				"key", key, "expires", e.tok.expires, "error", err)
		}
		c.mu.Unlock()
		f.tok, f.err = tok, err
		close(f.done)
	}()
	return f
}

// evict drops key's token if it is still value (the one a registry
// refused), so that the next get fetches a new one; a token already
// renewed since is kept. It reports whether value was the cached token.
func (c *tokenCache) evict(key, value string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(key)
	if !ok || e.tok.value != value || !c.now().Before(e.tok.expires) {
		return false
	}
	e.tok.expires = time.Time{}
	return true
}
