package oras

import (
	"container/list"
	"sync"
	"time"
)

// lru is a size-bounded least-recently-used cache with optional expiry.
// Cost is counted in caller-defined units (bytes for content, entries for
// referrer lists).
type lru[K comparable, V any] struct {
	mu      sync.Mutex
	max     int64
	used    int64
	ttl     time.Duration // 0: entries never expire
	now     func() time.Time
	order   *list.List // front = most recent
	entries map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key     K
	value   V
	cost    int64
	expires time.Time
}

func newLRU[K comparable, V any](max int64, ttl time.Duration) *lru[K, V] {
	return &lru[K, V]{max: max, ttl: ttl, now: time.Now, order: list.New(), entries: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
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
	e := el.Value.(*lruEntry[K, V])
	if c.ttl > 0 && c.now().After(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// add stores v unless its cost alone exceeds the bound.
func (c *lru[K, V]) add(k K, v V, cost int64) {
	if c == nil || c.max <= 0 || cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.remove(el)
	}
	e := &lruEntry[K, V]{key: k, value: v, cost: cost}
	if c.ttl > 0 {
		e.expires = c.now().Add(c.ttl)
	}
	c.entries[k] = c.order.PushFront(e)
	c.used += cost
	for c.used > c.max {
		c.remove(c.order.Back())
	}
}

func (c *lru[K, V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry[K, V])
	delete(c.entries, e.key)
	c.used -= e.cost
}

func (c *lru[K, V]) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
