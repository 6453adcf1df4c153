package oras_test

import (
	"context"
	"errors"
	"testing"

	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// A layout's bare tags (`v1`, as `oras copy --to-oci-layout dir:v1` writes
// them) carry no repository: they answer only for the repositories the
// layout's scopes name, never for whatever reference reaches the store.
// Tags written with their repository (`host/repo:v1`) answer for that
// repository only.
func TestLayoutTagsAnswerOnlyTheirRepository(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	layout, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	bare := regtest.PushImage(t, layout, "v1")
	full := regtest.PushImage(t, layout, "")
	if err := layout.Tag(ctx, full, "myregistry.io/app:v2"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		scopes []string
		image  string
		want   string // digest, or "" for not found
	}{
		{"no scopes: bare tag for any repository", nil, "other.io/evil/app:v1", ""},
		{"no scopes: bare tag", nil, "myregistry.io/app:v1", ""},
		{"no scopes: full tag", nil, "myregistry.io/app:v2", full.Digest.String()},
		{"no scopes: full tag of another repository", nil, "other.io/evil/app:v2", ""},
		{"catch-all scope: bare tag", []string{"*"}, "other.io/evil/app:v1", ""},
		{"repository scope: bare tag", []string{"myregistry.io/app"}, "myregistry.io/app:v1", bare.Digest.String()},
		{"registry scope: bare tag", []string{"myregistry.io/*", "*"}, "myregistry.io/app:v1", bare.Digest.String()},
		{"registry scope: bare tag, other registry", []string{"myregistry.io/*", "*"}, "other.io/evil/app:v1", ""},
		{"registry scope: spelling", []string{"MyRegistry.io:443/*"}, "myregistry.io/app:v1", bare.Digest.String()},
		{"digest from any repository", nil, "other.io/evil/app@" + bare.Digest.String(), bare.Digest.String()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t, oras.Config{Name: "fixtures", Type: oras.TypeLayout, Path: dir, Scopes: c.scopes})
			d, err := s.Resolve(ctx, mustRef(t, c.image))
			if c.want == "" {
				if !errors.Is(err, oras.ErrNotFound) {
					t.Fatalf("resolved %s to %v (%v), want ErrNotFound", c.image, d.Digest, err)
				}
				return
			}
			if err != nil || d.Digest.String() != c.want {
				t.Fatalf("resolve %s: %v %v, want %s", c.image, d.Digest, err, c.want)
			}
		})
	}
}
