package oras_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// manyReferrers pushes an image with n notation signatures to an OCI 1.1
// registry (pageSize referrers per page, 0: one page) behind a proxy.
func manyReferrers(t *testing.T, n, pageSize int) (*regtest.Proxy, ocispec.Descriptor) {
	t.Helper()
	reg := regtest.StartOCI11(t, pageSize)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	for i := 0; i < n; i++ {
		regtest.PushArtifact(t, repo, img, notationType, []byte{byte(i), byte(i >> 8)}, nil)
	}
	return regtest.StartProxy(t, reg.Host), img
}

func checkBudgetError(t *testing.T, err error, limit string) {
	t.Helper()
	var se *oras.Error
	if !errors.Is(err, oras.ErrBudgetExceeded) || !errors.As(err, &se) || se.Kind != oras.ErrBudgetExceeded || oras.IsTransient(err) {
		t.Fatalf("%v: want a permanent *oras.Error of kind ErrBudgetExceeded", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "per-decision registry budget exceeded") || !strings.Contains(msg, limit) || !strings.Contains(msg, "artifacts") {
		t.Fatalf("message %q does not say which budget ran out and why", msg)
	}
}

// An image with 200 referrers cannot make one decision read them all.
func TestBudgetBoundsAHostileImage(t *testing.T) {
	ctx := context.Background()
	t.Run("paged referrers", func(t *testing.T) {
		proxy, img := manyReferrers(t, 200, 10)
		s := newStore(t, remoteCfg())
		b := oras.NewBudget(oras.Limits{Requests: 10})
		dctx := oras.WithBudget(ctx, b)
		subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
		before := proxy.Requests()
		_, err := s.Referrers(dctx, subject, "")
		checkBudgetError(t, err, "10 registry requests")
		if n := proxy.Requests() - before; n > 10 {
			t.Errorf("the registry saw %d requests under a budget of 10", n)
		}
		// Spent is spent: the next operation of the decision fails at once.
		before = proxy.Requests()
		_, err = s.Resolve(dctx, mustRef(t, proxy.Host+"/app:v1"))
		checkBudgetError(t, err, "10 registry requests")
		if proxy.Requests() != before {
			t.Error("a spent budget still let a request through")
		}
		// Another decision has its own budget.
		if _, err := s.Resolve(oras.WithBudget(ctx, oras.NewBudget(oras.Limits{})), mustRef(t, proxy.Host+"/app:v1")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fetching every referrer", func(t *testing.T) {
		proxy, img := manyReferrers(t, 200, 0)
		s := newStore(t, remoteCfg())
		dctx := oras.WithBudget(ctx, oras.NewBudget(oras.Limits{Requests: 10}))
		subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
		list, err := s.Referrers(dctx, subject, notationType)
		if err != nil || len(list) != 200 {
			t.Fatalf("one page of 200 referrers: %d %v", len(list), err)
		}
		var fetched int
		for _, d := range list {
			if _, err = s.Fetch(dctx, subject, d); err != nil {
				break
			}
			fetched++
		}
		checkBudgetError(t, err, "10 registry requests")
		if fetched >= 10 {
			t.Errorf("fetched %d manifests under a budget of 10 requests", fetched)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		reg := regtest.StartOCI11(t, 0)
		repo := regtest.Repo(t, reg.Host, "app", "", "")
		img := regtest.PushImage(t, repo, "v1")
		regtest.PushArtifact(t, repo, img, notationType, bytes.Repeat([]byte("x"), 8<<10), nil)
		s := newStore(t, remoteCfg())
		dctx := oras.WithBudget(ctx, oras.NewBudget(oras.Limits{Bytes: 4 << 10}))
		subject := mustRef(t, reg.Host+"/app@"+img.Digest.String())
		list, err := s.Referrers(dctx, subject, notationType)
		if err != nil || len(list) != 1 {
			t.Fatal(list, err)
		}
		m, err := s.Fetch(dctx, subject, list[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Fetch(dctx, subject, layerOf(t, m))
		checkBudgetError(t, err, "4 KiB")
	})
	t.Run("bytes of a referrers page", func(t *testing.T) {
		proxy, img := manyReferrers(t, 100, 0)
		s := newStore(t, remoteCfg())
		dctx := oras.WithBudget(ctx, oras.NewBudget(oras.Limits{Bytes: 4 << 10}))
		_, err := s.Referrers(dctx, mustRef(t, proxy.Host+"/app@"+img.Digest.String()), "")
		checkBudgetError(t, err, "4 KiB")
	})
}

// A signed image is verified well within the default budget, and what the
// store's caches answer costs nothing.
func TestBudgetDefaultsFitANormalImage(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	proxy := regtest.StartProxy(t, reg.Host)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	regtest.PushImage(t, repo, "v2")
	for i := 0; i < 3; i++ {
		regtest.PushArtifact(t, repo, img, notationType, []byte{byte(i)}, nil)
	}
	regtest.PushArtifact(t, repo, img, sbomType, []byte("{}"), nil)
	cfg := remoteCfg()
	cfg.CosignEnabled = true
	s := newStore(t, cfg)
	ctx := context.Background()

	verify := func(ctx context.Context) error {
		d, err := s.Resolve(ctx, mustRef(t, proxy.Host+"/app:v1"))
		if err != nil {
			return err
		}
		subject := mustRef(t, proxy.Host+"/app@"+d.Digest.String())
		list, err := s.Referrers(ctx, subject, notationType)
		if err != nil {
			return err
		}
		for _, sig := range list {
			m, err := s.Fetch(ctx, subject, sig)
			if err != nil {
				return err
			}
			if _, err := s.Fetch(ctx, subject, layerOf(t, m)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := verify(oras.WithBudget(ctx, oras.NewBudget(oras.Limits{}))); err != nil {
		t.Fatalf("default budget: %v", err)
	}
	// The same decision again is answered from the caches: a budget of
	// one request is enough, and that request is still there afterwards.
	before := proxy.Requests()
	one := oras.WithBudget(ctx, oras.NewBudget(oras.Limits{Requests: 1}))
	if err := verify(one); err != nil {
		t.Fatalf("cached decision: %v", err)
	}
	if proxy.Requests() != before {
		t.Fatalf("a cached decision made %d registry requests", proxy.Requests()-before)
	}
	if _, err := s.Resolve(one, mustRef(t, proxy.Host+"/app:v2")); err != nil {
		t.Fatalf("the one request was charged for cached answers: %v", err)
	}
	_, err := s.Resolve(one, mustRef(t, proxy.Host+"/app:v3"))
	checkBudgetError(t, err, "1 registry requests")
}

func layerOf(t *testing.T, manifest []byte) ocispec.Descriptor {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("not a manifest with layers: %v %s", err, manifest)
	}
	return m.Layers[0]
}

// Referrer lists are cached by their size: a bound smaller than a list
// keeps it out of the cache, so the memory a registry can pin is bounded.
func TestReferrersCacheBoundedByBytes(t *testing.T) {
	proxy, img := manyReferrers(t, 200, 0)
	subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
	ctx := context.Background()
	listTwice := func(opts oras.Options) int64 {
		s, err := oras.New(ctx, []oras.Config{remoteCfg()}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if l, err := s.Referrers(ctx, subject, ""); err != nil || len(l) != 200 {
			t.Fatal(len(l), err)
		}
		before := proxy.Requests()
		if l, err := s.Referrers(ctx, subject, ""); err != nil || len(l) != 200 {
			t.Fatal(len(l), err)
		}
		return proxy.Requests() - before
	}
	if n := listTwice(oras.Options{}); n != 0 {
		t.Errorf("default cache: the second listing made %d requests", n)
	}
	if n := listTwice(oras.Options{ReferrersCacheBytes: 16 << 10}); n == 0 {
		t.Error("a 200-referrer list was cached within 16 KiB")
	}
}
