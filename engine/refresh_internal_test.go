package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// fakeRefresher counts fetches; its material is its fetch count.
type fakeRefresher struct {
	fetches atomic.Int32
	fail    error
}

func (f *fakeRefresher) Keys(context.Context) ([]kmp.Key, error) { return nil, nil }
func (f *fakeRefresher) Certificates(context.Context) ([]kmp.Certificate, error) {
	return nil, nil
}
func (f *fakeRefresher) Refresh(context.Context) error { f.fetches.Add(1); return f.fail }
func (f *fakeRefresher) Version() string               { return string(rune('a' + f.fetches.Load())) }

// TestProviderCache: a refreshable provider is fetched once when new, not
// at every build; a check refreshes it; a changed spec is a new provider;
// providers nobody asked for are pruned.
func TestProviderCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var c providerCache
	built := 0
	fake := &fakeRefresher{}
	build := func() (kmp.Provider, error) { built++; return fake, nil }
	spec := v1beta1.KeyManagementProviderSpec{Type: "azurekeyvault", RefreshInterval: "1m"}
	for range 3 {
		if _, err := c.get(ctx, "akv", spec, build); err != nil {
			t.Fatal(err)
		}
	}
	if built != 1 || fake.fetches.Load() != 1 {
		t.Fatalf("built %d, fetched %d times; want 1 and 1", built, fake.fetches.Load())
	}
	if _, err := c.refresh(ctx, "akv", spec, build); err != nil || fake.fetches.Load() != 2 {
		t.Fatalf("refresh: %v, fetched %d times; want 2", err, fake.fetches.Load())
	}
	spec.RefreshInterval = "2m"
	if _, err := c.get(ctx, "akv", spec, build); err != nil || built != 2 {
		t.Fatalf("a changed spec: %v, built %d times; want 2", err, built)
	}
	c.prune(time.Now().Add(time.Hour))
	if len(c.m) != 0 {
		t.Fatalf("%d providers left after pruning all", len(c.m))
	}
}

// TestFirstFetchFailure: a new provider whose first fetch fails says why,
// and is not fetched again by every build (a refresh retries it).
func TestFirstFetchFailure(t *testing.T) {
	t.Parallel()
	var c providerCache
	fake := &fakeRefresher{fail: errors.New("vault unreachable")}
	spec := v1beta1.KeyManagementProviderSpec{Type: "azurekeyvault"}
	_, err := c.get(context.Background(), "akv", spec, func() (kmp.Provider, error) { return fake, nil })
	if err == nil || err.Error() != "vault unreachable (fetching the keys and certificates of key management provider akv)" {
		t.Fatalf("first fetch: %v", err)
	}
	if _, err := c.get(context.Background(), "akv", spec, func() (kmp.Provider, error) { return fake, nil }); err != nil || fake.fetches.Load() != 1 {
		t.Fatalf("second build: %v, %d fetches", err, fake.fetches.Load())
	}
}

// TestMaterialVersions: a refresh that changes what a provider holds
// changes the revision suffix; inline providers add none.
func TestMaterialVersions(t *testing.T) {
	t.Parallel()
	reg := kmp.NewRegistry()
	fake := &fakeRefresher{}
	if err := reg.AddProvider("", "akv", fake); err != nil {
		t.Fatal(err)
	}
	before := materialVersions(reg)
	_ = fake.Refresh(context.Background())
	if after := materialVersions(reg); after == before || after == "" {
		t.Fatalf("versions %q then %q", before, after)
	}
	if v := materialVersions(kmp.NewRegistry()); v != "" {
		t.Fatalf("no refreshable provider: %q", v)
	}
}
