// Package lru is a size-bounded least-recently-used cache with optional
// expiry, shared by the store's content and referrer caches and the
// builtin result cache.
package lru

import (
	"container/list"
	"sync"
	"time"
)

// Cache is safe for concurrent use. Cost is counted in caller-defined units
// (bytes for content, entries for lists). A nil *Cache caches nothing.
type Cache[K comparable, V any] struct {
	mu      sync.Mutex
	max     int64
	used    int64
	ttl     time.Duration // default lifetime of an entry; 0: never expires
	now     func() time.Time
	order   *list.List // front = most recent
	entries map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	cost    int64
	expires time.Time
}

// New returns a cache bounded to max cost units whose entries expire after
// ttl (0: never).
func New[K comparable, V any](max int64, ttl time.Duration) *Cache[K, V] {
	return &Cache[K, V]{max: max, ttl: ttl, now: time.Now, order: list.New(), entries: map[K]*list.Element{}}
}

// Get returns the live entry for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	var zero V
	if c == nil || c.max <= 0 {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if !e.expires.IsZero() && c.now().After(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.order.MoveToFront(el)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.remove(el)
	}
	e := &entry[K, V]{key: k, value: v, cost: cost}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.entries[k] = c.order.PushFront(e)
	c.used += cost
	for c.used > c.max {
		c.remove(c.order.Back())
	}
}

func (c *Cache[K, V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*entry[K, V])
	delete(c.entries, e.key)
	c.used -= e.cost
}

// Size is the cost currently held.
func (c *Cache[K, V]) Size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
