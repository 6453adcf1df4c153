package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// coldImages is how many distinct images each cold benchmark verifies
// before it starts again on a new engine (with empty caches).
const coldImages = 64

// BenchmarkDecideCold is one cold verification through Decide: an image
// never seen, by tag (or by digest: -digest), each in its own repository, with the compiled policy
// of a notation and a cosign Verifier (cosignEnabled), on the OCI 1.1
// registry and on the distribution registry (tag schema). It reports the
// registry requests per verification (req/op); CPU profiles of it
// (-cpuprofile) show what a cold verification costs ratify.
func BenchmarkDecideCold(b *testing.B) {
	registries := map[string]func(testing.TB) string{
		"oci11":        func(t testing.TB) string { return regtest.StartOCI11(t, 0).Host },
		"distribution": func(t testing.TB) string { return regtest.StartDistribution(t, regtest.DistributionOptions{}).Host },
	}
	w := &world{good: sign.NewPKI(b, sign.Options{CommonName: "good"})}
	w.keyA = sign.NewCosignKey(b)
	w.keyB = w.keyA
	yaml := w.resources(w.notationVerifier("*"), cosignVerifier(cosignDefault))
	for _, regName := range []string{"oci11", "distribution"} {
		host := registries[regName](b)
		for _, kind := range []string{"notation", "cosign"} {
			tags, digests := pushCold(b, w, host, kind)
			b.Run(regName+"/"+kind, func(b *testing.B) {
				benchCold(b, yaml, tags)
			})
			b.Run(regName+"/"+kind+"-digest", func(b *testing.B) {
				benchCold(b, yaml, digests)
			})
		}
	}
}

// pushCold pushes coldImages images signed as kind, one repository each,
// and returns their references by tag and by digest.
func pushCold(b *testing.B, w *world, host, kind string) (tags, digests []string) {
	tags, digests = make([]string, coldImages), make([]string, coldImages)
	for i := range tags {
		name := fmt.Sprintf("bench/%s-%d", kind, i)
		repo := regtest.Repo(b, host, name, "", "")
		d := regtest.PushImage(b, repo, "v1")
		signCold(b, w, repo, host+"/"+name, kind, d)
		tags[i] = host + "/" + name + ":v1"
		digests[i] = host + "/" + name + "@" + d.Digest.String()
	}
	return tags, digests
}

func signCold(b *testing.B, w *world, repo *remote.Repository, name, kind string, d ocispec.Descriptor) {
	if kind == "notation" {
		sign.Notation(b, w.good, repo, d, sign.JWS)
		return
	}
	sign.Cosign(b, w.keyA, repo, name, d, "")
}

func benchCold(b *testing.B, yaml string, refs []string) {
	var requests atomic.Int64
	newEngine := func() *engine.Engine {
		res, err := config.Load(strings.NewReader(yaml))
		if err != nil {
			b.Fatal(err)
		}
		opts := engine.Options{Logger: slog.New(slog.DiscardHandler), StoreOptions: oras.Options{WrapTransport: func(next http.RoundTripper) http.RoundTripper {
			return countingTransport{next: next, n: &requests}
		}}}
		eng, err := engine.New(context.Background(), res, opts)
		if err != nil {
			b.Fatal(err)
		}
		return eng
	}
	ctx := context.Background()
	eng := newEngine()
	// The first verification on a new engine learns what the registry
	// serves (the referrers API or not); the benchmark is of the others.
	decideCold(b, ctx, eng, refs[0])
	next := 1
	requests.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration // the process's CPU in verifications
	start := processCPU(b)
	for i := 0; i < b.N; i++ {
		if next == len(refs) {
			b.StopTimer()
			cpu += processCPU(b) - start
			before := requests.Load()
			eng = newEngine()
			decideCold(b, ctx, eng, refs[0])
			requests.Store(before)
			next = 1
			start = processCPU(b)
			b.StartTimer()
		}
		decideCold(b, ctx, eng, refs[next])
		next++
	}
	cpu += processCPU(b) - start
	b.ReportMetric(float64(requests.Load())/float64(b.N), "req/op")
	// On the distribution registry (another process) this is ratify's
	// CPU per verification; on the OCI 1.1 one it includes the registry's.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func decideCold(b *testing.B, ctx context.Context, eng *engine.Engine, ref string) {
	req := eng.Prepare("", ref)
	v, err := eng.Decide(ctx, &req)
	if err != nil {
		b.Fatal(err)
	}
	if !v.Allow {
		b.Fatalf("%s denied: %v", ref, v.Reasons)
	}
}

type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}
