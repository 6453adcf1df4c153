package oras_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// credentialTrap is a registry look-alike that challenges every request
// for Basic credentials and records any Authorization header it is sent.
type credentialTrap struct {
	Host string
	mu   sync.Mutex
	got  []string
}

func startCredentialTrap(t *testing.T) *credentialTrap {
	t.Helper()
	trap := &credentialTrap{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			trap.mu.Lock()
			trap.got = append(trap.got, a)
			trap.mu.Unlock()
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="trap"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	trap.Host = strings.TrimPrefix(srv.URL, "http://")
	return trap
}

func (c *credentialTrap) authorizations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// A static credential is sent to the registry it was configured for and
// to no other host, even one on the same address and even when the store
// serves every reference (no scopes).
func TestStaticCredentialsGoOnlyToTheirHosts(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{Username: "ratify", Password: "s3cret"})
	img := regtest.PushImage(t, regtest.Repo(t, reg.Host, "private/app", "ratify", "s3cret"), "v1")
	ctx := context.Background()

	for _, tc := range []struct{ name, params string }{
		{"hosts", `{"useHttp": true, "authProvider": {"name": "static", "username": "ratify", "password": "s3cret", "hosts": ["` + reg.Host + `"]}}`},
		{"scopes", `{"useHttp": true, "scopes": ["` + reg.Host + `/private/*"], "authProvider": {"name": "static", "username": "ratify", "password": "s3cret"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trap := startCredentialTrap(t)
			cfg, err := oras.ConfigFromParameters("static", oras.TypeRemote, json.RawMessage(tc.params))
			if err != nil {
				t.Fatal(err)
			}
			// The scoped store is also the routing fallback here, so the
			// binding inside the provider is what protects the password.
			fallback := cfg
			fallback.Scopes = nil
			s := newStore(t, fallback)
			if d, err := s.Resolve(ctx, mustRef(t, reg.Host+"/private/app:v1")); err != nil || d.Digest != img.Digest {
				t.Fatalf("configured registry: %v %v", d, err)
			}
			_, err = s.Resolve(ctx, mustRef(t, trap.Host+"/private/app:v1"))
			if !errors.Is(err, oras.ErrUnauthorized) {
				t.Fatalf("other registry: %v, want ErrUnauthorized", err)
			}
			if got := trap.authorizations(); len(got) != 0 {
				t.Fatalf("the other registry was sent credentials: %q", got)
			}
			if c, err := cfg.Auth(ctx, trap.Host); err != nil || c != auth.EmptyCredential {
				t.Fatalf("provider answered %v %v for %s", c, err, trap.Host)
			}
		})
	}
}

func TestStaticCredentialsNeedHosts(t *testing.T) {
	for _, params := range []string{
		`{"authProvider": {"name": "static", "username": "u", "password": "p"}}`,
		`{"scopes": ["*"], "authProvider": {"name": "static", "username": "u", "password": "p"}}`,
	} {
		_, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(params))
		if err == nil || !strings.Contains(err.Error(), "authProvider.hosts") || !strings.Contains(err.Error(), "scopes") {
			t.Errorf("%s: %v, want an error saying to add authProvider.hosts or scopes", params, err)
		}
	}
	for _, params := range []string{
		`{"authProvider": {"name": "static", "username": "u", "password": "p", "hosts": ["https://r.io"]}}`,
		`{"authProvider": {"name": "static", "username": "u", "password": "p", "hosts": ["r.io/team"]}}`,
		`{"authProvider": {"name": "static", "username": "u", "password": "p", "hosts": ["r*.io"]}}`,
		`{"authProvider": {"name": "static", "username": "u", "password": "p", "hosts": [""]}}`,
	} {
		if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(params)); err == nil || !strings.Contains(err.Error(), "authProvider.hosts") {
			t.Errorf("%s: %v, want an error about authProvider.hosts", params, err)
		}
	}
}

func TestBoundTo(t *testing.T) {
	secret := auth.Credential{Username: "u", Password: "p"}
	inner := auth.CredentialFunc(func(context.Context, string) (auth.Credential, error) { return secret, nil })
	p := oras.BoundTo([]string{"*.azurecr.io", "*.azurecr.us", "*.azurecr.cn", "Registry.Example.com:443", "127.0.0.1:5000", "docker.io"}, inner)
	cases := []struct {
		host string
		want bool
	}{
		{"myacr.azurecr.io", true},
		{"MyACR.AzureCR.io", true},
		{"myacr.azurecr.io:443", true},
		{"a.b.azurecr.cn", true},
		{"myacr.azurecr.us", true},
		{"azurecr.io", false},
		{"evil.azurecr.io.attacker.com", false},
		{"evilazurecr.io", false},
		{"myacr.azurecr.io:8443", false},
		{"registry.example.com", true},
		{"registry.example.com:443", true},
		{"registry.example.com.evil.com", false},
		{"example.com", false},
		{"127.0.0.1:5000", true},
		{"127.0.0.1:5001", false},
		{"127.0.0.1", false},
		{"registry-1.docker.io", true},
		{"index.docker.io", true},
		{"", false},
	}
	for _, c := range cases {
		got, err := p(context.Background(), c.host)
		if err != nil {
			t.Fatal(err)
		}
		if (got == secret) != c.want {
			t.Errorf("%q: credential sent = %v, want %v", c.host, got == secret, c.want)
		}
	}
	if got, _ := oras.BoundTo(nil, inner)(context.Background(), "myacr.azurecr.io"); got != auth.EmptyCredential {
		t.Error("a provider bound to no host answered a credential")
	}
}
