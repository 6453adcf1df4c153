package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine/compile"
)

// policyCache keeps the policies of the last build by everything they are
// compiled from, so that a rebuild compiles only the policies that changed.
// Compiling Rego is most of a build (tens of milliseconds a namespace), so
// without it a key rotation in a cluster of 100 namespaces recompiled every
// namespace's policy, seconds, to change none of them. Compiled policies
// are immutable and safe for concurrent use: engines of two revisions may
// share one.
type policyCache struct {
	mu   sync.Mutex
	last map[[sha256.Size]byte]*policy
}

// policyBuild is one build's view of a policyCache.
type policyBuild struct {
	cache *policyCache
	last  map[[sha256.Size]byte]*policy
	used  map[[sha256.Size]byte]*policy
}

// build begins a build; a nil cache compiles everything.
func (c *policyCache) build() *policyBuild {
	b := &policyBuild{cache: c, used: map[[sha256.Size]byte]*policy{}}
	if c != nil {
		c.mu.Lock()
		b.last = c.last
		c.mu.Unlock()
	}
	return b
}

// fromSpec is the package's fromSpec, reusing a policy compiled from the
// same inputs by the last build or this one.
func (b *policyBuild) fromSpec(ctx context.Context, name, scope string, spec *v1beta1.PolicySpec, vs []compile.Verifier) (*policy, error) {
	in, err := json.Marshal(struct {
		Name, Scope string
		Spec        *v1beta1.PolicySpec
		Verifiers   []compile.Verifier
	}{name, scope, spec, vs})
	if err != nil {
		return fromSpec(ctx, name, scope, spec, vs) // not cached
	}
	key := sha256.Sum256(in)
	if p := b.used[key]; p != nil {
		return p, nil
	}
	p := b.last[key]
	if p == nil {
		if p, err = fromSpec(ctx, name, scope, spec, vs); err != nil {
			return nil, err
		}
	}
	b.used[key] = p
	return p, nil
}

// commit keeps what this build used, and only that, for the next one.
func (b *policyBuild) commit() {
	if b.cache == nil {
		return
	}
	b.cache.mu.Lock()
	b.cache.last = b.used
	b.cache.mu.Unlock()
}
