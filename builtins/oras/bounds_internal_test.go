package oras

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
