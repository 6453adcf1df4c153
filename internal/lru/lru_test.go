package lru

import (
	"sync"
	"testing"
	"time"
)

func TestEvictsLeastRecentlyUsedByCost(t *testing.T) {
	c := New[string, int](10, 0)
	c.Add("a", 1, 4)
	c.Add("b", 2, 4)
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.Add("c", 3, 4) // over 10: b, the least recent, goes
	if _, ok := c.Get("b"); ok {
		t.Error("b should have been evicted")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Error("a evicted instead of b")
	}
	if c.Size() != 8 {
		t.Errorf("size %d, want 8", c.Size())
	}
	c.Add("huge", 4, 11)
	if _, ok := c.Get("huge"); ok {
		t.Error("an entry larger than the cache was kept")
	}
}

func TestExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New[string, int](10, time.Second)
	c.now = func() time.Time { return now }
	c.Add("a", 1, 1)
	now = now.Add(999 * time.Millisecond)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("expired early")
	}
	now = now.Add(2 * time.Millisecond)
	if _, ok := c.Get("a"); ok {
		t.Fatal("not expired after its TTL")
	}
	if c.Size() != 0 {
		t.Errorf("expired entry still counted: %d", c.Size())
	}
	var nilCache *Cache[string, int]
	nilCache.Add("x", 1, 1)
	if _, ok := nilCache.Get("x"); ok {
		t.Error("nil cache returned a value")
	}
}

func TestAddTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New[string, int](10, time.Minute)
	c.now = func() time.Time { return now }
	c.AddTTL("short", 1, 1, time.Second)
	c.Add("long", 2, 1)
	c.AddTTL("never", 3, 1, -1)
	if _, ok := c.Get("never"); ok {
		t.Error("an entry with a negative TTL was stored")
	}
	now = now.Add(2 * time.Second)
	if _, ok := c.Get("short"); ok {
		t.Error("an entry outlived its own TTL")
	}
	if _, ok := c.Get("long"); !ok {
		t.Error("an entry with the cache's TTL expired early")
	}
}

// A key read between every insertion survives any number of them: the
// clock gives it a second chance on every pass, while keys never read go.
func TestReadEntrySurvivesAScan(t *testing.T) {
	c := New[int, int](10, 0)
	c.Add(-1, -1, 1)
	for i := range 1000 {
		if _, ok := c.Get(-1); !ok {
			t.Fatalf("the key read before every insertion was evicted after %d insertions", i)
		}
		c.Add(i, i, 1)
		if c.Size() > 10 {
			t.Fatalf("size %d over the bound 10", c.Size())
		}
	}
	if _, ok := c.Get(999); !ok {
		t.Error("the entry just added was evicted")
	}
}

// Readers and writers at once (run with -race): the bound holds and a
// value read is the one stored under its key.
func TestConcurrentUse(t *testing.T) {
	c := New[int, int](64, time.Hour)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k := (i*7 + w) % 200
				if v, ok := c.Get(k); ok && v != k*10 {
					t.Errorf("key %d: value %d", k, v)
					return
				}
				c.Add(k, k*10, 1+int64(k%3))
			}
		}()
	}
	wg.Wait()
	if n := c.Size(); n > 64 {
		t.Errorf("size %d over the bound 64", n)
	}
}

// BenchmarkGetParallel is the decision cache's read on a warm admission,
// with readers on every core.
func BenchmarkGetParallel(b *testing.B) {
	c := New[int, int](1<<20, time.Hour)
	for i := range 1000 {
		c.Add(i, i, 1)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get(i % 1000); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}
