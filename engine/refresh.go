package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// refresher is a key management provider whose material comes from a
// service (kmp.Refresher): Refresh fetches it, Version names what is held.
type refresher interface {
	kmp.Provider
	Refresh(ctx context.Context) error
	Version() string
}

// firstFetchTimeout bounds the fetch of a new refreshable provider during
// a build; a provider not fetched in time fails its users until a refresh
// succeeds.
const firstFetchTimeout = 10 * time.Second

// providerCache keeps providers across builds of one Shared, so that a
// refreshable provider is fetched when it is new or due, not at every
// rebuild, and keeps its last good material through transient failures.
type providerCache struct {
	mu sync.Mutex
	m  map[string]*cachedProvider
}

type cachedProvider struct {
	p   kmp.Provider
	err error // from building it
	// fetched is set once a first Refresh ran; used is when a build or a
	// check last asked for it.
	fetched bool
	used    time.Time
}

// providerKey is a provider's identity: its reference and its spec, so a
// changed spec is a new provider.
func providerKey(ref string, spec v1beta1.KeyManagementProviderSpec) string {
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return ref + "\x00" + hex.EncodeToString(sum[:])
}

// get returns the provider of ref and spec, built once with build; a new
// refreshable provider is fetched before it is returned.
func (c *providerCache) get(ctx context.Context, ref string, spec v1beta1.KeyManagementProviderSpec, build func() (kmp.Provider, error)) (kmp.Provider, error) {
	if c == nil {
		return build()
	}
	k := providerKey(ref, spec)
	c.mu.Lock()
	cp := c.m[k]
	if cp == nil {
		if c.m == nil {
			c.m = map[string]*cachedProvider{}
		}
		cp = &cachedProvider{}
		cp.p, cp.err = build()
		c.m[k] = cp
	}
	cp.used = time.Now()
	c.mu.Unlock()
	if r, ok := cp.p.(refresher); ok && cp.err == nil && !cp.fetched {
		fctx, cancel := context.WithTimeout(ctx, firstFetchTimeout)
		err := r.Refresh(fctx)
		cancel()
		c.mu.Lock()
		cp.fetched = true
		c.mu.Unlock()
		if err != nil {
			// The cause first: status shows the first 100 characters.
			return cp.p, fmt.Errorf("%w (fetching the keys and certificates of key management provider %s)", err, ref)
		}
	}
	return cp.p, cp.err
}

// refresh fetches the provider of ref and spec again, if it is one that
// refreshes.
func (c *providerCache) refresh(ctx context.Context, ref string, spec v1beta1.KeyManagementProviderSpec, build func() (kmp.Provider, error)) (kmp.Provider, error) {
	fresh := false
	if c != nil {
		c.mu.Lock()
		cp := c.m[providerKey(ref, spec)]
		fresh = cp == nil || !cp.fetched
		c.mu.Unlock()
	}
	p, err := c.get(ctx, ref, spec, build)
	if err != nil || fresh {
		return p, err
	}
	if r, ok := p.(refresher); ok {
		if err := r.Refresh(ctx); err != nil {
			return p, fmt.Errorf("%w (refreshing key management provider %s)", err, ref)
		}
	}
	return p, nil
}

// prune forgets providers no build or check asked for since before.
func (c *providerCache) prune(before time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cp := range c.m {
		if cp.used.Before(before) {
			delete(c.m, k)
		}
	}
}

// materialVersions names the material the refreshable providers of reg
// hold, so that a revision changes when a refresh changed it (and the
// caches keyed by revision do not serve verdicts made with the old keys).
func materialVersions(reg *kmp.Registry) string {
	var parts []string
	reg.Each(func(ref string, p kmp.Provider) {
		if r, ok := p.(refresher); ok {
			parts = append(parts, ref+"="+r.Version())
		}
	})
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	b, _ := json.Marshal(parts)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
