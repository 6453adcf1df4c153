package oras_test

import (
	"sync/atomic"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// Parallel runs every index once, never more than FetchConcurrency at once.
func TestParallelBounded(t *testing.T) {
	var inFlight, peak atomic.Int32
	seen := make([]atomic.Int32, 50)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		oras.Parallel(len(seen), func(i int) {
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if i < oras.FetchConcurrency {
				<-release // the first ones wait until all workers are busy
			}
			seen[i].Add(1)
			inFlight.Add(-1)
		})
	}()
	close(release)
	<-done
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("index %d ran %d times", i, n)
		}
	}
	if p := peak.Load(); p > oras.FetchConcurrency {
		t.Fatalf("%d at once, bound %d", p, oras.FetchConcurrency)
	}
}

// A panic in one call reaches the caller, after the others have returned.
func TestParallelPanics(t *testing.T) {
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the call's panic", p)
		}
	}()
	oras.Parallel(10, func(i int) {
		if i == 3 {
			panic("boom")
		}
	})
	t.Fatal("no panic")
}
