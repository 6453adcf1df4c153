package oras

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// The per-repository clients of a registry store are bounded, however many
// repositories images name, and a remembered one is reused.
func TestRepositoryClientsBounded(t *testing.T) {
	b, err := newRemote(withDefaults(Config{Type: TypeRemote}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := b.repo(Reference{Registry: "registry.example.com", Repository: "app"})
	if b.repo(Reference{Registry: "registry.example.com", Repository: "app"}) != first {
		t.Fatal("the client of a repository was not reused")
	}
	for i := 0; i < 3*maxRepositories; i++ {
		b.repo(Reference{Registry: fmt.Sprintf("r%d.example.com", i), Repository: "app"})
	}
	if n := b.repos.Size(); n > maxRepositories {
		t.Fatalf("%d repository clients kept, bound %d", n, maxRepositories)
	}
}

// The auth cache keeps schemes and tokens within its bounds, and answers
// what it keeps as oras-go's cache does.
// The hosts remembered without the referrers API are bounded too.
func TestNoAPIHostsBounded(t *testing.T) {
	c := newNoAPIHosts()
	for i := 0; i < 3*maxNoAPIHosts; i++ {
		c.add(fmt.Sprintf("r%d.example.com", i))
	}
	if n := c.hosts.Size(); n > maxNoAPIHosts {
		t.Fatalf("%d hosts kept, bound %d", n, maxNoAPIHosts)
	}
	if !c.has(fmt.Sprintf("r%d.example.com", 3*maxNoAPIHosts-1)) {
		t.Fatal("the last host seen was forgotten")
	}
}

func TestAuthCacheBounded(t *testing.T) {
	c := newBoundedAuthCache()
	ctx := context.Background()
	token := strings.Repeat("t", 1000)
	fetch := func(context.Context) (string, error) { return token, nil }
	if _, err := c.GetScheme(ctx, "r.io"); err == nil {
		t.Fatal("scheme of an unknown registry")
	}
	if got, err := c.Set(ctx, "r.io", auth.SchemeBearer, "repository:app:pull", fetch); err != nil || got != token {
		t.Fatal(got, err)
	}
	if s, err := c.GetScheme(ctx, "r.io"); err != nil || s != auth.SchemeBearer {
		t.Fatal(s, err)
	}
	if got, err := c.GetToken(ctx, "r.io", auth.SchemeBearer, "repository:app:pull"); err != nil || got != token {
		t.Fatal(got, err)
	}
	if _, err := c.GetToken(ctx, "r.io", auth.SchemeBasic, "repository:app:pull"); err == nil {
		t.Fatal("a token of another scheme was answered")
	}
	for i := 0; i < 20000; i++ {
		host := fmt.Sprintf("r%d.attacker.example", i)
		if _, err := c.Set(ctx, host, auth.SchemeBearer, fmt.Sprintf("repository:app%d:pull", i), fetch); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.schemes.Size(); n > authCacheRegistries {
		t.Errorf("%d registries cached, bound %d", n, authCacheRegistries)
	}
	if n := c.tokens.Size(); n > authCacheTokenBytes {
		t.Errorf("%d token bytes cached, bound %d", n, authCacheTokenBytes)
	}
}

// Content kept in the cache holds its own bytes, not the twice as large
// buffer it was read into; what does not match its digest is refused.
func TestReadAllKeepsNoSpareCapacity(t *testing.T) {
	for _, n := range []int{1, 250, 511, 512, 4096, 70000} {
		data := bytes.Repeat([]byte{'x'}, n)
		desc := content.NewDescriptorFromBytes("application/octet-stream", data)
		b, err := readAll(bytes.NewReader(data), desc)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		// Beyond the allocator's size classes (at most an eighth).
		if spare := cap(b) - len(b); spare > 64+n/8 {
			t.Errorf("%d bytes read keep %d bytes of spare capacity", n, spare)
		}
		if _, err := readAll(bytes.NewReader(append(data[:n-1:n-1], 'y')), desc); err == nil {
			t.Errorf("%d bytes: content that does not match its digest was read", n)
		}
	}
}
