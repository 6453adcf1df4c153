// Package lru is a size-bounded cache with optional expiry that evicts
// what has not been read recently, shared by the store's content and
// referrer caches, the builtin result cache and the decision cache.
//
// Eviction is CLOCK (second chance), an approximation of least recently
// used: a read marks its entry with one atomic store under a read lock,
// instead of moving it in a list under the write lock. The decision cache
// answers every warm admission key, so with requests in flight on every
// core an exclusive lock per read would serialize them.
package lru

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache is safe for concurrent use. Cost is counted in caller-defined units
// (bytes for content, entries for lists). A nil *Cache caches nothing.
type Cache[K comparable, V any] struct {
	mu      sync.RWMutex
	max     int64
	used    int64
	ttl     time.Duration // default lifetime of an entry; 0: never expires
	now     func() time.Time
	entries map[K]*entry[K, V]
	ring    []*entry[K, V] // the clock, in no particular order
	hand    int            // the next slot of ring the clock looks at
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	cost    int64
	expires time.Time
	slot    int         // index in ring
	read    atomic.Bool // read since the clock last passed
}

// New returns a cache bounded to max cost units whose entries expire after
// ttl (0: never).
func New[K comparable, V any](max int64, ttl time.Duration) *Cache[K, V] {
	return &Cache[K, V]{max: max, ttl: ttl, now: time.Now, entries: map[K]*entry[K, V]{}}
}

// Get returns the live entry for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	var zero V
	if c == nil || c.max <= 0 {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok {
		return zero, false
	}
	if !e.expires.IsZero() && c.now().After(e.expires) {
		c.mu.Lock()
		if c.entries[k] == e {
			c.remove(e)
		}
		c.mu.Unlock()
		return zero, false
	}
	if !e.read.Load() { // a load first: a hot entry's cache line stays shared
		e.read.Store(true)
	}
	return e.value, true
}

// Add stores v unless its cost alone exceeds the bound.
func (c *Cache[K, V]) Add(k K, v V, cost int64) {
	if c != nil {
		c.AddTTL(k, v, cost, c.ttl)
	}
}

// AddTTL stores v for ttl instead of the cache's own expiry (0: never
// expires; negative: not stored), for entries that must not outlive a
// shorter lifetime than the rest (a result that depends on a referrer list).
func (c *Cache[K, V]) AddTTL(k K, v V, cost int64, ttl time.Duration) {
	if c == nil || c.max <= 0 || cost > c.max || ttl < 0 {
		return
	}
	e := &entry[K, V]{key: k, value: v, cost: cost}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		c.remove(old)
	}
	e.slot = len(c.ring)
	c.ring = append(c.ring, e)
	c.entries[k] = e
	c.used += cost
	c.evict(e)
}

// evict runs the clock until the cache is within its bound: an entry read
// since the last pass gets a second chance, one not read goes. It never
// evicts keep, the entry just added, and ends within two passes, since the
// first clears every mark.
func (c *Cache[K, V]) evict(keep *entry[K, V]) {
	for c.used > c.max && len(c.ring) > 1 {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		if e == keep || e.read.Load() {
			e.read.Store(false)
			c.hand++
			continue
		}
		c.remove(e) // moves the last entry into this slot: look at it next
	}
}

// remove drops e, filling its slot with the last entry of the ring.
func (c *Cache[K, V]) remove(e *entry[K, V]) {
	last := len(c.ring) - 1
	moved := c.ring[last]
	c.ring[e.slot], moved.slot = moved, e.slot
	c.ring[last] = nil
	c.ring = c.ring[:last]
	delete(c.entries, e.key)
	c.used -= e.cost
}

// Size is the cost currently held.
func (c *Cache[K, V]) Size() int64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.used
}
