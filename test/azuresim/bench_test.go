package azuresim_test

import (
	"fmt"
	"net/http/httputil"
	"net/url"
	"sort"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// coldBench is the setting of the cold-verification figures: the guide's
// workload identity store on the simulated ACR; a store with static
// credentials (an ACR refresh token, as `az acr login --expose-token`
// gives) on the same registry, which isolates what the workload identity
// provider adds from what the registry's token authentication costs; and
// an anonymous store on a registry without authentication behind the
// same TLS front. All are warmed (tokens cached, TLS connections open).
type coldBench struct {
	c          *simCloud
	wi, st, an *engine.Engine
	acrRepo    *remote.Repository
	anonRepo   *remote.Repository
}

func newColdBench(tb testing.TB) *coldBench {
	tb.Helper()
	c := newCloud(tb)
	anon := regtest.StartDistribution(tb, regtest.DistributionOptions{})
	target := &url.URL{Scheme: "http", Host: anon.Host}
	c.net.ServeTLS(tb, &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}, "anonymous.example.com")
	cb := &coldBench{c: c, acrRepo: c.acr.Repository(tb, c.net, "app"), anonRepo: regtest.Repo(tb, anon.Host, "app", "", "")}
	cb.wi = c.engine(tb, c.guide(tb, ""))
	// The anonymous store: the guide's with authProvider anonymous.
	anonRes := c.guide(tb, "")
	anonRes.Stores[0].Spec.Parameters.Raw = []byte(`{"authProvider": {"name": "anonymous"}, "cosignEnabled": true}`)
	cb.an = c.engine(tb, anonRes)
	// The static store: the guide's with the refresh token of the same
	// identity as its password.
	refresh, err := c.acr.RefreshToken(clientID, azuresim.RoleAcrPull, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	staticRes := c.guide(tb, "")
	staticRes.Stores[0].Spec.Parameters.Raw = fmt.Appendf(nil,
		`{"authProvider": {"name": "static", "username": %q, "password": %q, "hosts": [%q]}, "cosignEnabled": true}`,
		azuresim.RefreshUsername, refresh, acrName)
	cb.st = c.engine(tb, staticRes)
	cb.verify(tb, cb.wi, cb.pushACR(tb, 0))
	cb.verify(tb, cb.st, cb.pushACR(tb, 0))
	cb.verify(tb, cb.an, cb.pushAnonymous(tb, 0))
	return cb
}

func (cb *coldBench) pushACR(tb testing.TB, _ int) string {
	return cb.c.push(tb, cb.acrRepo, acrName, "app", true)
}

func (cb *coldBench) pushACRNewRepository(tb testing.TB, i int) string {
	name := fmt.Sprintf("repo%d-%d", time.Now().UnixNano(), i)
	return cb.c.push(tb, cb.c.acr.Repository(tb, cb.c.net, name), acrName, name, true)
}

func (cb *coldBench) pushAnonymous(tb testing.TB, _ int) string {
	return cb.c.push(tb, cb.anonRepo, "anonymous.example.com", "app", true)
}

// verify verifies image, which must be admitted, and returns the
// registry requests it took and its latency.
func (cb *coldBench) verify(tb testing.TB, e *engine.Engine, image string) (int64, time.Duration) {
	tb.Helper()
	before := cb.c.requests.Load()
	start := time.Now()
	if d := evaluate(tb, e, image); !d.Allow {
		tb.Fatalf("%s denied: %q", image, d.Reasons)
	}
	return cb.c.requests.Load() - before, time.Since(start)
}

// measure verifies n new images (pushed by push) through e.
func (cb *coldBench) measure(tb testing.TB, e *engine.Engine, n int, push func(testing.TB, int) string) (reqs []int64, lat []time.Duration) {
	for i := range n {
		r, d := cb.verify(tb, e, push(tb, i))
		reqs, lat = append(reqs, r), append(lat, d)
	}
	return reqs, lat
}

// TestColdVerificationFigures measures a verification of an image not
// seen before through the workload identity store with its tokens
// cached, against the same through an anonymous store (a registry
// without authentication behind the same TLS front): registry requests
// and latency. It logs the figures; run with -v. BenchmarkColdVerification
// reports the same figures as benchmark metrics (make bench).
func TestColdVerificationFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("measures")
	}
	const rounds = 15
	cb := newColdBench(t)
	wiReqs, wiLat := cb.measure(t, cb.wi, rounds, cb.pushACR)
	wiNewRepoReqs, wiNewRepoLat := cb.measure(t, cb.wi, rounds, cb.pushACRNewRepository)
	stReqs, stLat := cb.measure(t, cb.st, rounds, cb.pushACR)
	anReqs, anLat := cb.measure(t, cb.an, rounds, cb.pushAnonymous)
	t.Logf("cold verification of a new signed image, median of %d (requests: ratify's to the registry):", rounds)
	t.Logf("  anonymous store:                              %2d requests, %s", median(anReqs), median(anLat))
	t.Logf("  static credentials on the same ACR:           %2d requests, %s", median(stReqs), median(stLat))
	t.Logf("  workload identity store, same repository:     %2d requests, %s", median(wiReqs), median(wiLat))
	t.Logf("  workload identity store, new repository each: %2d requests, %s", median(wiNewRepoReqs), median(wiNewRepoLat))
	t.Logf("  ACR exchanges in all: %d; Entra ID tokens: %d", cb.c.acr.Counts().Exchange, cb.c.entra.Counts().Token)
	if n := cb.c.acr.Counts().Exchange; n != 1 {
		t.Errorf("%d exchanges: with tokens cached, verifications exchange nothing", n)
	}
}

// BenchmarkColdVerification is the cost of verifying an image not seen
// before (its signature fetched and checked; the image is pushed outside
// the timer): through the guide's workload identity store with its tokens
// cached, in the same repository and in a new repository each time (a new
// repository scope, so a new registry access token), against an anonymous
// store. Metrics: ratify's requests to the registry and milliseconds per
// verification.
func BenchmarkColdVerification(b *testing.B) {
	cb := newColdBench(b)
	for _, bc := range []struct {
		name string
		e    *engine.Engine
		push func(testing.TB, int) string
	}{
		{"store=anonymous", cb.an, cb.pushAnonymous},
		{"store=static/registry=acr", cb.st, cb.pushACR},
		{"store=workloadIdentity/repository=same", cb.wi, cb.pushACR},
		{"store=workloadIdentity/repository=new", cb.wi, cb.pushACRNewRepository},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var (
				reqs int64
				lat  time.Duration
			)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				image := bc.push(b, i)
				b.StartTimer()
				r, d := cb.verify(b, bc.e, image)
				reqs, lat = reqs+r, lat+d
			}
			b.StopTimer()
			b.ReportMetric(float64(reqs)/float64(b.N), "requests/verification")
			b.ReportMetric(float64(lat.Microseconds())/1000/float64(b.N), "ms/verification")
		})
	}
	if n := cb.c.acr.Counts().Exchange; n != 1 {
		b.Errorf("%d exchanges: with tokens cached, verifications exchange nothing", n)
	}
}

func median[T int64 | time.Duration](xs []T) T {
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
