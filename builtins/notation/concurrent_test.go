package notation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// The envelopes of an image's signatures are fetched at once: a proxy
// holds each blob request until n of them have arrived, which requests
// made one after another never reach.
func TestVerifyFetchesSignaturesAtOnce(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	reg := regtest.StartOCI11(t, 0)
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "")
	p.sign(t, repo, img, MediaTypeJWS)
	p.sign(t, repo, img, MediaTypeCOSE)
	gate := newBlobGate(t, reg.Host, 2)
	r := Verify(context.Background(), newStore(t), mustRef(t, gate.host+"/team/app@"+img.Digest.String()), goodOpts(p))
	if !r.IsSuccess || len(r.Signatures) != 2 {
		t.Fatalf("report %+v", r)
	}
	if gate.timedOut.Load() {
		t.Error("the envelopes were fetched one after another")
	}
}

// blobGate is a reverse proxy to a registry that holds blob requests until
// n are in flight at once (or 10 seconds passed, which it records).
type blobGate struct {
	host     string
	timedOut atomic.Bool
}

func newBlobGate(t *testing.T, upstream string, n int) *blobGate {
	g := &blobGate{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			if arrived++; arrived == n {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				g.timedOut.Store(true)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.host = strings.TrimPrefix(srv.URL, "http://")
	return g
}
