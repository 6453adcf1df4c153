package oras_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// requestLog records the paths of the requests a proxy receives.
type requestLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *requestLog) observe(p *regtest.Proxy) {
	p.Add(regtest.Fault{Match: func(r *http.Request) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.paths = append(l.paths, r.Method+" "+r.URL.Path)
		return false
	}})
}

// since returns the requests logged after the first n.
func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.paths[n:]...)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.paths)
}

func countContaining(paths []string, part string) int {
	n := 0
	for _, p := range paths {
		if strings.Contains(p, part) {
			n++
		}
	}
	return n
}

// A registry without the referrers API is probed once per host, not once
// per repository: the second repository's listing is the tag schema's one
// request.
func TestReferrersAPIProbedOncePerHost(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	proxy := regtest.StartProxy(t, reg.Host)
	var log requestLog
	log.observe(proxy)
	s := newStore(t, remoteCfg())
	ctx := context.Background()
	for i, name := range []string{"team-a/app", "team-b/app", "team-c/app"} {
		repo := regtest.Repo(t, reg.Host, name, "", "")
		img := regtest.PushImage(t, repo, "v1")
		sig := regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
		before := log.len()
		got, err := s.Referrers(ctx, mustRef(t, proxy.Host+"/"+name+"@"+img.Digest.String()), "")
		if err != nil || len(got) != 1 || got[0].Digest != sig.Digest {
			t.Fatalf("%s: %v %v", name, got, err)
		}
		reqs := log.since(before)
		wantAPI := 0
		if i == 0 {
			wantAPI = 1 // the probe: the API answers 404
		}
		if n := countContaining(reqs, "/referrers/"); n != wantAPI || len(reqs) != wantAPI+1 {
			t.Errorf("%s: requests %q, want %d referrers API request(s) and the tag schema's", name, reqs, wantAPI)
		}
	}
}

// A host seen with the referrers API that answers it with 404 is read
// through the tag schema from then on, without failing the listing.
func TestReferrersAPIReprobedOn404(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	proxy := regtest.StartProxy(t, reg.Host)
	var log requestLog
	log.observe(proxy)
	s := newStore(t, remoteCfg())
	ctx := context.Background()
	push := func(name string) oras.Reference {
		repo := regtest.Repo(t, reg.Host, name, "", "")
		img := regtest.PushImage(t, repo, "v1")
		regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
		return mustRef(t, proxy.Host+"/"+name+"@"+img.Digest.String())
	}
	a, b, c := push("team-a/app"), push("team-b/app"), push("team-c/app")
	if got, err := s.Referrers(ctx, a, ""); err != nil || len(got) != 1 {
		t.Fatalf("with the API: %v %v", got, err)
	}
	// The registry drops the API (say, a proxy now stands in front of it).
	proxy.Add(regtest.Fault{Match: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }, Status: http.StatusNotFound})
	before := log.len()
	// oras-go pushed the artifact to the tag schema as well (the registry
	// does not answer pushes with OCI-Subject), so the listing still has it.
	if got, err := s.Referrers(ctx, b, ""); err != nil || len(got) != 1 {
		t.Fatalf("after the API went away: %v %v", got, err)
	}
	if reqs := log.since(before); countContaining(reqs, "/referrers/") != 1 || countContaining(reqs, "/manifests/sha256-") != 1 {
		t.Errorf("requests %q: want the API's 404, then the tag schema", reqs)
	}
	before = log.len()
	if _, err := s.Referrers(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	if reqs := log.since(before); countContaining(reqs, "/referrers/") != 0 || len(reqs) != 1 {
		t.Errorf("requests %q: the host is known without the API, want the tag schema's one request", reqs)
	}
}

// The referrer list and cosign's `.sig` tag are asked for at once: the
// listing is held until the `.sig` request has arrived, which only a
// concurrent lookup gets past.
func TestReferrersAndCosignTagConcurrent(t *testing.T) {
	for _, kind := range []string{"api", "tag schema"} {
		t.Run(kind, func(t *testing.T) {
			var host string
			if kind == "api" {
				host = regtest.StartOCI11(t, 0).Host
			} else {
				host = regtest.StartDistribution(t, regtest.DistributionOptions{}).Host
			}
			repo := regtest.Repo(t, host, "app", "", "")
			img := regtest.PushImage(t, repo, "v1")
			sigImg := regtest.PushImage(t, repo, oras.CosignSignatureTag(img.Digest))
			sigSeen := make(chan struct{})
			var once sync.Once
			var waited atomic.Bool
			rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, ".sig"):
					once.Do(func() { close(sigSeen) })
				case strings.Contains(r.URL.Path, "/referrers/") || strings.Contains(r.URL.Path, "/manifests/sha256-"):
					select {
					case <-sigSeen:
					case <-time.After(10 * time.Second):
						waited.Store(true) // sequential: the .sig request never came
					}
				}
				rp.ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			cfg := remoteCfg()
			cfg.CosignEnabled = true
			got, err := newStore(t, cfg).Referrers(context.Background(), mustRef(t, strings.TrimPrefix(proxy.URL, "http://")+"/app@"+img.Digest.String()), "")
			if err != nil || len(got) != 1 || got[0].Digest != sigImg.Digest {
				t.Fatalf("%v %v", got, err)
			}
			if waited.Load() {
				t.Error("the referrer listing was not asked for while the .sig tag was")
			}
		})
	}
}

// Callers listing the same image at once share one listing; one whose
// first caller's budget ran out lists on its own budget.
func TestReferrersSharedInFlight(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
	proxy := regtest.StartProxy(t, reg.Host)
	var log requestLog
	log.observe(proxy)
	arrived := make(chan struct{}, 16)
	proxy.Add(regtest.Fault{Match: func(r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/referrers/") {
			arrived <- struct{}{}
			return true
		}
		return false
	}, Delay: 200 * time.Millisecond})
	subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
	ctx := context.Background()

	s := newStore(t, remoteCfg())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Referrers(ctx, subject, "")
			if err == nil && len(got) != 1 {
				err = fmt.Errorf("got %v", got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countContaining(log.since(0), "/referrers/"); n != 1 {
		t.Errorf("8 callers at once made %d listings, want 1", n)
	}

	<-arrived // phase one's listing
	s = newStore(t, remoteCfg())
	first := make(chan error, 1)
	go func() {
		// One byte: the listing's answer is over this caller's budget.
		_, err := s.Referrers(oras.WithBudget(ctx, oras.NewBudget(oras.Limits{Bytes: 1})), subject, "")
		first <- err
	}()
	<-arrived // the first caller's listing is in flight
	got, err := s.Referrers(oras.WithBudget(ctx, oras.NewBudget(oras.Limits{})), subject, "")
	if err != nil || len(got) != 1 {
		t.Fatalf("the second caller got the first one's budget failure: %v %v", got, err)
	}
	if err := <-first; !errors.Is(err, oras.ErrBudgetExceeded) {
		t.Fatalf("the first caller: %v, want its budget exceeded", err)
	}
}

// A 404 (a missing referrers tag, a missing `.sig` tag) leaves its
// connection reusable: listing image after image opens no new ones beyond
// the two the concurrent lookups need.
func TestNotFoundKeepsTheConnection(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	cfg := remoteCfg()
	cfg.CosignEnabled = true
	s := newStore(t, cfg)
	var opened atomic.Int32
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			opened.Add(1)
		}
	}})
	for i := 0; i < 6; i++ {
		repo := regtest.Repo(t, reg.Host, fmt.Sprintf("app%d", i), "", "")
		img := regtest.PushImage(t, repo, "v1")
		got, err := s.Referrers(ctx, mustRef(t, reg.Host+"/"+fmt.Sprintf("app%d", i)+"@"+img.Digest.String()), "")
		if err != nil || len(got) != 0 {
			t.Fatalf("%v %v", got, err)
		}
	}
	if n := opened.Load(); n > 2 {
		t.Errorf("%d connections opened for 6 unsigned images, want at most 2", n)
	}
}
