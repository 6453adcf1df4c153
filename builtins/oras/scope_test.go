package oras_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// recordingTransport answers 404 to everything and records the URLs asked.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// References drop `:443`; the dial address stays right: HTTPS's default
// port is 443 anyway, and a useHttp store whose scopes name `host:443`
// dials that host on 443 however the image spells it.
func TestDialAddressWithoutDefaultPort(t *testing.T) {
	cases := []struct {
		name   string
		plain  bool
		scopes []string
		image  string
		want   string
	}{
		{"https, port written", false, nil, "registry.example.com:443/app:v1", "https://registry.example.com"},
		{"https, no port", false, nil, "registry.example.com/app:v1", "https://registry.example.com"},
		{"http, scope with :443, image with :443", true, []string{"registry.example.com:443/*"}, "registry.example.com:443/app:v1", "http://registry.example.com:443"},
		{"http, scope with :443, image without", true, []string{"Registry.Example.com:443/app"}, "registry.example.com/app:v1", "http://registry.example.com:443"},
		{"http, no port", true, []string{"registry.example.com/*"}, "registry.example.com/app:v1", "http://registry.example.com"},
		{"http, other port", true, nil, "registry.example.com:5000/app:v1", "http://registry.example.com:5000"},
		{"docker hub", false, nil, "index.docker.io/library/nginx", "https://registry-1.docker.io"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := &recordingTransport{}
			cfg := oras.Config{Type: oras.TypeRemote, PlainHTTP: c.plain, Scopes: c.scopes, Transport: rt, Retry: oras.RetryPolicy{MaxRetries: -1}}
			_, err := newStore(t, cfg).Resolve(context.Background(), mustRef(t, c.image))
			if !errors.Is(err, oras.ErrNotFound) {
				t.Fatalf("resolve: %v", err)
			}
			if len(rt.urls) == 0 || rt.urls[0] != c.want {
				t.Fatalf("dialled %v, want %s", rt.urls, c.want)
			}
		})
	}
}

func TestNormalizeScope(t *testing.T) {
	for in, want := range map[string]string{
		"*":                             "*",
		"LOCALHOST:5000/team-a/*":       "localhost:5000/team-a/*",
		"Registry.Example.com:443/app":  "registry.example.com/app",
		"registry.example.com:4443/app": "registry.example.com:4443/app",
		"index.docker.io/nginx":         "docker.io/library/nginx",
		"registry-1.docker.io/user/*":   "docker.io/user/*",
		"docker.io/*":                   "docker.io/*",
		"docker.io/ngin*":               "docker.io/ngin*",
		"MyRegistry.io*":                "myregistry.io*",
		"registry.example.com/team*":    "registry.example.com/team*",
	} {
		if got, err := oras.NormalizeScope(in); err != nil || got != want {
			t.Errorf("NormalizeScope(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a.io/*/b", "a.io/**", "*a.io/b", "https://a.io/b", "a.io/b@sha256:00", "a.io/ b", "/app"} {
		if got, err := oras.NormalizeScope(in); err == nil {
			t.Errorf("NormalizeScope(%q) = %q, want an error", in, got)
		}
		if oras.ScopeMatches(in, "a.io/b") {
			t.Errorf("invalid scope %q matched", in)
		}
	}
	if _, err := oras.New(context.Background(), []oras.Config{{Type: oras.TypeRemote, Scopes: []string{"myregistry.io*"}}}, oras.Options{}); err == nil || !strings.Contains(err.Error(), "myregistry.io*") {
		t.Errorf("a store scope with a wildcard in the host: %v", err)
	}
}
