package cosign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/seed-12b584bc/ratify/test/regtest"
)

// The payloads of an image's signatures are fetched at once: a proxy holds
// each blob request until two have arrived, which requests made one after
// another never reach. The same payload named twice is fetched once.
func TestVerifyFetchesSignaturesAtOnce(t *testing.T) {
	t.Parallel()
	reg := regtest.StartOCI11(t, 0)
	key := newKey(t, "ECDSA-P256", 0)
	img := pushImage(t, reg, "at/once")
	// Two payloads (cosign sign -a adds annotations to the payload), and
	// the first one again as a referrer.
	first, second := signAnnotated(t, key, img, "1"), signAnnotated(t, key, img, "2")
	attachTag(t, img, first, second)
	attachReferrer(t, img, first)
	var blobs atomic.Int32
	var timedOut atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: reg.Host})
	var (
		mu      sync.Mutex
		arrived int
		two     = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			blobs.Add(1)
			mu.Lock()
			if arrived++; arrived == 2 {
				close(two)
			}
			mu.Unlock()
			select {
			case <-two:
			case <-time.After(10 * time.Second):
				timedOut.Store(true)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ref := img.ref
	ref.Registry = strings.TrimPrefix(srv.URL, "http://")
	wantSuccess(t, verify(t, ref, map[string]any{"keys": keysOpt(key)}), 3)
	if timedOut.Load() {
		t.Error("the payloads were fetched one after another")
	}
	if n := blobs.Load(); n != 2 {
		t.Errorf("%d payload requests for three signatures of two payloads, want 2", n)
	}
}

// signAnnotated signs img's simple-signing payload carrying the annotation
// n, as `cosign sign -a n=<n>` does.
func signAnnotated(t *testing.T, key *testKey, img image, n string) oci.Signature {
	t.Helper()
	p, err := json.Marshal(payload.Cosign{Image: img.digestRef, Annotations: map[string]any{"n": n}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.signer.SignMessage(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
