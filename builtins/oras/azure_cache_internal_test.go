package oras

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for token caches.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gatedFetch issues token "t<n>" valid for life on its n-th call; calls
// wait for a value on gate when gate is set.
type gatedFetch struct {
	clock *fakeClock
	life  time.Duration
	calls atomic.Int32
	gate  chan struct{}
	fail  atomic.Bool
}

func (f *gatedFetch) fetch(ctx context.Context, _ string) (token, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return token{}, ctx.Err()
		}
	}
	if f.fail.Load() {
		return token{}, errors.New("identity service down")
	}
	now := f.clock.Now()
	renew, expires := tokenTimes(now, now.Add(f.life))
	return token{value: fmt.Sprintf("t%d", n), renew: renew, expires: expires}, nil
}

func newTestCache(f *gatedFetch) *tokenCache {
	c := newTokenCache(f.fetch, slog.New(slog.DiscardHandler))
	c.now = f.clock.Now
	return c
}

func mustGet(t *testing.T, c *tokenCache, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.get(ctx, "r.azurecr.io")
	if err != nil || got != want {
		t.Fatalf("get = %q, %v; want %q", got, err, want)
	}
}

// waitCalls waits until fetch has been called n times.
func waitCalls(t *testing.T, f *gatedFetch, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("fetch called %d times, want %d", f.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A token due for renewal is still handed out at once while the renewal
// runs in the background (here it is held back until the test releases
// it); one renewal runs however many requests read the token meanwhile.
func TestTokenCacheRenewsInBackground(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f := &gatedFetch{clock: clock, life: time.Hour, gate: make(chan struct{}, 10)}
	c := newTestCache(f)
	f.gate <- struct{}{}
	mustGet(t, c, "t1")

	clock.Advance(29 * time.Minute)
	mustGet(t, c, "t1")
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("renewed before half of the lifetime: %d fetches", n)
	}

	clock.Advance(2 * time.Minute) // past renewal, before expiry
	for range 5 {
		mustGet(t, c, "t1") // answered without waiting: the renewal is still held
	}
	waitCalls(t, f, 2)
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d fetches, want one renewal", n)
	}
	f.gate <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := c.get(context.Background(), "r.azurecr.io")
		if err != nil {
			t.Fatal(err)
		}
		if v == "t2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %q after the renewal", v)
		}
		time.Sleep(time.Millisecond)
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d fetches after the renewal, want 2", n)
	}
}

// A failed background renewal keeps the current token until it expires
// and is retried after a pause, not on every request; once the token has
// expired, the request waits for a fetch and sees its error.
func TestTokenCacheRenewalFailure(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f := &gatedFetch{clock: clock, life: time.Hour}
	c := newTestCache(f)
	mustGet(t, c, "t1")
	f.fail.Store(true)
	clock.Advance(31 * time.Minute)
	mustGet(t, c, "t1")
	waitCalls(t, f, 2)
	time.Sleep(10 * time.Millisecond) // let the failed renewal record its pause
	for range 3 {
		mustGet(t, c, "t1")
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d fetches: a failed renewal is retried on every request", n)
	}
	clock.Advance(renewRetry)
	mustGet(t, c, "t1")
	waitCalls(t, f, 3)

	clock.Advance(time.Hour)
	if _, err := c.get(context.Background(), "r.azurecr.io"); err == nil || err.Error() != "identity service down" {
		t.Fatalf("expired token: %v, want the fetch's error", err)
	}
	f.fail.Store(false)
	mustGet(t, c, fmt.Sprintf("t%d", f.calls.Load()+1))
}

// Concurrent requests with nothing cached share one fetch.
func TestTokenCacheSharesOneFetch(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f := &gatedFetch{clock: clock, life: time.Hour, gate: make(chan struct{})}
	c := newTestCache(f)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.get(context.Background(), "r.azurecr.io")
			if err == nil && v != "t1" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		}()
	}
	waitCalls(t, f, 1)
	time.Sleep(20 * time.Millisecond) // the others arrive while the fetch is held
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent requests, want 1", n)
	}
}

// A request that gives up does not cancel the fetch it waited for: the
// token is cached for the next request.
func TestTokenCacheFetchOutlivesRequest(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f := &gatedFetch{clock: clock, life: time.Hour, gate: make(chan struct{})}
	c := newTestCache(f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.get(ctx, "r.azurecr.io"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get = %v, want the request's deadline", err)
	}
	close(f.gate)
	waitCalls(t, f, 1)
	mustGet(t, c, "t1")
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
}

// evict drops the refused token only: a token renewed meanwhile stays.
func TestTokenCacheEvict(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f := &gatedFetch{clock: clock, life: time.Hour}
	c := newTestCache(f)
	mustGet(t, c, "t1")
	if c.evict("r.azurecr.io", "stale") {
		t.Fatal("evicted a token that was not the refused one")
	}
	mustGet(t, c, "t1")
	if !c.evict("r.azurecr.io", "t1") {
		t.Fatal("the refused token was not evicted")
	}
	mustGet(t, c, "t2")
}

func TestTokenTimes(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	renew, expires := tokenTimes(t0, t0.Add(3*time.Hour))
	if renew != t0.Add(90*time.Minute) || expires != t0.Add(3*time.Hour-time.Minute) {
		t.Errorf("3h token: renew %s, expires %s", renew.Sub(t0), expires.Sub(t0))
	}
	renew, expires = tokenTimes(t0, t0.Add(10*time.Second))
	if renew != t0.Add(5*time.Second) || expires != t0.Add(9*time.Second) {
		t.Errorf("10s token: renew %s, expires %s", renew.Sub(t0), expires.Sub(t0))
	}
	if renew, expires = tokenTimes(t0, t0.Add(-time.Second)); !renew.Equal(t0) || !expires.Equal(t0) {
		t.Errorf("expired token: renew %s, expires %s", renew, expires)
	}
}

func TestJWTExpiry(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		tok  string
		want int64
	}{
		{enc(`{"alg":"ES256"}`) + "." + enc(`{"exp":1700003600}`) + ".sig", 1700003600},
		{enc(`{}`) + "." + enc(`{"exp":1.7000036e9}`) + ".sig", 1700003600},
		{enc(`{}`) + "." + enc(`{"sub":"x"}`) + ".sig", 0},
		{"opaque-token", 0},
		{"a.!!!.c", 0},
	} {
		got, ok := jwtExpiry(c.tok)
		if ok != (c.want != 0) || (ok && got.Unix() != c.want) {
			t.Errorf("jwtExpiry(%q) = %v, %v; want %d", c.tok, got, ok, c.want)
		}
	}
}
