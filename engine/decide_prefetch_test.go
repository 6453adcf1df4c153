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
