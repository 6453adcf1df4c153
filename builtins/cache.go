package builtins

import (
	"sync"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Cache holds builtin results across evaluations, keyed by configuration
// revision, policy scope and call (key.go): a key rotation is a new
// revision, so it takes effect on the next evaluation.
type Cache struct {
	c   *lru.Cache[string, *result]
	ttl time.Duration
}

// NewCache bounds the cache to entries results, each kept for ttl at most
// (results about an image: see Config.SubjectTTL).
func NewCache(entries int64, ttl time.Duration) *Cache {
	return &Cache{c: lru.New[string, *result](entries, ttl), ttl: ttl}
}

// result is one call's outcome, shared by the memo and the cache. It is
// immutable once made, except conv, which only grows.
type result struct {
	val any
	// rep is a verification function's report; val is its Value().
	rep *report.Report
	err error
	// conv holds val converted for an engine (an OPA term, a CEL value), by
	// engine kind, so a cached result is converted once, not per evaluation.
	conv sync.Map
}

// transient reports whether the outcome may change on retry: such a result
// is never cached, and the decision that saw it is not either.
func (r *result) transient() bool {
	if r.rep != nil {
		return r.rep.Transient
	}
	return r.err != nil && isTransient(r.err)
}

func (c *Cache) get(key string) (*result, bool) {
	if c == nil {
		return nil, false
	}
	return c.c.Get(key)
}

// add keeps res for ttl, bounded by the cache's own TTL.
func (c *Cache) add(key string, res *result, ttl time.Duration) {
	c.c.AddTTL(key, res, 1, min(ttl, c.ttl))
}
