package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// A key by digest is resolved and listed at once: a proxy holds the
// resolution (HEAD of the manifest) until the referrer listing has
// arrived, which a listing made after the resolution never does. A key by
// tag is resolved first (the listing needs the digest).
func TestDecideListsWhileResolvingADigest(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	w := &world{good: sign.NewPKI(t, sign.Options{CommonName: "good"})}
	w.keyA = sign.NewCosignKey(t)
	w.keyB = w.keyA
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	d := regtest.PushImage(t, repo, "v1")
	sign.Cosign(t, w.keyA, repo, reg.Host+"/team/app", d, "")

	listed := make(chan struct{})
	var heldTooLong atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/referrers/"):
			select {
			case <-listed:
			default:
				close(listed)
			}
		case r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/sha256:"):
			select {
			case <-listed:
			case <-time.After(10 * time.Second):
				heldTooLong.Store(true)
			}
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	res, err := config.Load(strings.NewReader(w.resources(cosignVerifier(cosignDefault))))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), res, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := eng.Prepare("", host+"/team/app@"+d.Digest.String())
	v, err := eng.Decide(context.Background(), &req)
	if err != nil || !v.Decision.Allow {
		t.Fatalf("%+v %v", v, err)
	}
	if heldTooLong.Load() {
		t.Error("the referrers were listed only after the digest was resolved")
	}
}

// On a registry without the referrers API, once the host is known, a cold
// verification by tag costs the resolution, the tag schema's index and
// cosign's `.sig` tag (together), and the signature's content: 4 requests
// for a cosign signature (its manifest is the `.sig` tag), 5 for a Notary
// Project one (its manifest, then its envelope); a cached one costs none.
func TestColdRequestsOnATagSchemaRegistry(t *testing.T) {
	host := regtest.StartDistribution(t, regtest.DistributionOptions{}).Host
	w := &world{good: sign.NewPKI(t, sign.Options{CommonName: "good"})}
	w.keyA = sign.NewCosignKey(t)
	w.keyB = w.keyA
	var requests atomic.Int64
	res, err := config.Load(strings.NewReader(w.resources(w.notationVerifier("*"), cosignVerifier(cosignDefault))))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), res, engine.Options{StoreOptions: oras.Options{WrapTransport: func(next http.RoundTripper) http.RoundTripper {
		return countingTransport{next: next, n: &requests}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	push := func(name, kind string) string {
		repo := regtest.Repo(t, host, name, "", "")
		d := regtest.PushImage(t, repo, "v1")
		if kind == "notation" {
			sign.Notation(t, w.good, repo, d, sign.JWS)
		} else {
			sign.Cosign(t, w.keyA, repo, host+"/"+name, d, "")
		}
		return host + "/" + name + ":v1"
	}
	decide := func(ref string) int64 {
		t.Helper()
		before := requests.Load()
		req := eng.Prepare("", ref)
		v, err := eng.Decide(context.Background(), &req)
		if err != nil || !v.Decision.Allow {
			t.Fatalf("%s: %+v %v", ref, v, err)
		}
		return requests.Load() - before
	}
	decide(push("first/app", "cosign")) // learns that the host has no referrers API
	for _, c := range []struct {
		kind string
		want int64
	}{{"cosign", 4}, {"notation", 5}} {
		ref := push(c.kind+"/app", c.kind)
		if n := decide(ref); n != c.want {
			t.Errorf("%s: %d registry requests, want %d", c.kind, n, c.want)
		}
		if n := decide(ref); n != 0 {
			t.Errorf("%s cached: %d registry requests, want 0", c.kind, n)
		}
	}
}
