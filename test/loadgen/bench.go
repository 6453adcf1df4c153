package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// figures are one binary's measurements.
type figures struct {
	warmP50, warmP99 time.Duration
	warmKeys         float64
	warmCPU          time.Duration // server CPU per warm key
	coldRate         float64
	perImage         int64
	rss              int64
	mem, idle        memory // after the keys; once started
}

func run(bins []string, nImages, nKeys, nCold, nWarm, conc, nDist int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ratify-loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, err := sample.NewCosignKey()
	if err != nil {
		return err
	}
	tlsFiles, err := sample.NewTLSFiles(dir)
	if err != nil {
		return err
	}
	// The referrer TTL bounds every cache of a decision; the warm figures
	// measure the cached path, so the Store keeps referrer lists longer
	// than the run.
	resources := filepath.Join(dir, "resources.yaml")
	if err := os.WriteFile(resources, []byte(sample.Resources(sample.Trust{KeyPEM: key.PublicPEM(), StoreParameters: "referrersCacheTTL: 1h"})), 0o600); err != nil {
		return err
	}

	// The OCI 1.1 registry: the referrers API.
	reg := &counting{next: registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, reg) }()
	// One repository per image: go-containerregistry's registry lists
	// referrers by scanning every manifest of a repository, which a real
	// registry does not do.
	name := ln.Addr().String() + "/bench/app"
	fmt.Printf("pushing %d cosign-signed images to %s-<n> ...\n", nImages+1, name)
	refs, err := pushSigned(ctx, name, key, nImages+1)
	if err != nil {
		return err
	}
	results := make([]figures, len(bins))
	for i, bin := range bins {
		fmt.Printf("measuring %s on the OCI 1.1 registry ...\n", bin)
		if results[i], err = measure(bin, resources, dir, tlsFiles, reg, refs, nImages, nKeys, nCold, nWarm, conc); err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
	}

	// The distribution registry: no referrers API (the tag schema).
	var dist []figures
	if nDist > 0 {
		if dist, err = measureDistribution(ctx, bins, resources, dir, tlsFiles, key, nDist, conc); err != nil {
			return err
		}
	}

	for i, bin := range bins {
		f := results[i]
		fmt.Printf("\n%s\n", bin)
		fmt.Printf("warm: 10-key requests p50 %.2f ms, p99 %.2f ms (one in flight); %.0f keys/s (%d in flight), %.1f µs of server CPU per key; %d requests each\n",
			ms(f.warmP50), ms(f.warmP99), f.warmKeys, conc, float64(f.warmCPU)/float64(time.Microsecond), nWarm)
		fmt.Printf("cold: %.0f images/s (%d distinct images, 10 keys a request, %d in flight)\n", f.coldRate, nCold, conc)
		fmt.Printf("registry requests per cold verification of an image with one signature: %d (OCI 1.1 referrers API)", f.perImage)
		if dist != nil {
			fmt.Printf(", %d (distribution, tag schema); distribution cold: %.0f images/s (%d images)", dist[i].perImage, dist[i].coldRate, nDist)
		}
		fmt.Println()
		fmt.Printf("peak RSS of ratify serve after %d keys over %d images: %.1f MiB (then %.1f MiB anonymous, %.1f MiB file-backed; once started, before any request: %.1f MiB, %.1f MiB of it file-backed)\n",
			nKeys, nImages, mib(f.rss), mib(f.mem.anon), mib(f.mem.file), mib(f.idle.now), mib(f.idle.file))
	}
	if len(bins) == 2 {
		a, b := results[0], results[1]
		fmt.Printf("\n%s / %s: warm p99 %.2fx, warm keys/s %.2fx, warm CPU per key %.2fx, cold images/s %.2fx, peak RSS %.2fx\n", bins[0], bins[1],
			ms(a.warmP99)/ms(b.warmP99), a.warmKeys/b.warmKeys, float64(a.warmCPU)/float64(b.warmCPU), a.coldRate/b.coldRate, float64(a.rss)/float64(b.rss))
	}
	return nil
}

// measure runs one binary against the registry behind reg.
func measure(bin, resources, dir string, tlsFiles sample.TLSFiles, reg *counting, refs []string, nImages, nKeys, nCold, nWarm, conc int) (figures, error) {
	var f figures
	client, url, pid, stop, err := serveFor(bin, resources, dir, tlsFiles, conc)
	if err != nil {
		return f, err
	}
	defer stop()
	if f.idle, err = memoryOf(pid); err != nil {
		return f, err
	}
	if f.perImage, f.coldRate, err = measureCold(client, url, reg, refs[nImages:], refs[:nCold], conc); err != nil {
		return f, err
	}

	// Warm: the same images again, now decided.
	warmBatches := make([][]string, nWarm)
	coldBatches := batches(refs[:nCold], 10)
	for i := range warmBatches {
		warmBatches[i] = coldBatches[i%len(coldBatches)]
	}
	// Latency as one admission sees it (one request in flight), then
	// throughput with conc in flight.
	lat, err := load(client, url, warmBatches, 1)
	if err != nil {
		return f, err
	}
	f.warmP50, f.warmP99 = percentile(lat, 50), percentile(lat, 99)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return f, err
	}
	start := time.Now()
	if _, err := load(client, url, warmBatches, conc); err != nil {
		return f, err
	}
	f.warmKeys = float64(nWarm*10) / time.Since(start).Seconds()
	cpu1, err := cpuTime(pid)
	if err != nil {
		return f, err
	}
	f.warmCPU = (cpu1 - cpu0) / time.Duration(nWarm*10)

	// RSS: nKeys keys over all nImages images.
	var all [][]string
	for i := 0; i < nKeys/10; i++ {
		b := make([]string, 10)
		for j := range b {
			b[j] = refs[(i*10+j)%nImages]
		}
		all = append(all, b)
	}
	if _, err := load(client, url, all, conc); err != nil {
		return f, err
	}
	if f.mem, err = memoryOf(pid); err != nil {
		return f, err
	}
	f.rss = f.mem.peak
	if p := os.Getenv("LOADGEN_PPROF"); p != "" {
		fmt.Printf("heap profile: go tool pprof http://%s/debug/pprof/heap (press Enter to stop)\n", p)
		_, _ = fmt.Scanln()
	}
	return f, nil
}

// measureDistribution counts registry requests per cold verification, and
// the cold rate, on the distribution registry (built by test/tools), which
// has no referrers API: discovery goes through the tag schema.
func measureDistribution(ctx context.Context, bins []string, resources, dir string, tlsFiles sample.TLSFiles, key *sample.CosignKey, n, conc int) ([]figures, error) {
	regBin, err := tools.Lookup("registry")
	if err != nil {
		return nil, fmt.Errorf("the distribution registry (build it with test/tools/install.sh, or pass -distribution-images 0): %w", err)
	}
	upstream, stopReg, err := startDistribution(regBin, filepath.Join(dir, "distribution"))
	if err != nil {
		return nil, err
	}
	defer stopReg()
	reg, host, closeProxy, err := countingProxy(upstream)
	if err != nil {
		return nil, err
	}
	defer closeProxy()
	name := host + "/bench/app"
	fmt.Printf("pushing %d cosign-signed images to the distribution registry ...\n", n+1)
	refs, err := pushSigned(ctx, name, key, n+1)
	if err != nil {
		return nil, err
	}
	out := make([]figures, len(bins))
	for i, bin := range bins {
		fmt.Printf("measuring %s on the distribution registry ...\n", bin)
		client, url, _, stop, err := serveFor(bin, resources, dir, tlsFiles, conc)
		if err != nil {
			return nil, err
		}
		out[i].perImage, out[i].coldRate, err = measureCold(client, url, reg, refs[n:], refs[:n], conc)
		stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bin, err)
		}
	}
	return out, nil
}

// serveFor starts bin's provider and a client for it with conc connections.
func serveFor(bin, resources, dir string, tlsFiles sample.TLSFiles, conc int) (client *http.Client, url string, pid int, stop func(), err error) {
	if err := cacheFile(bin); err != nil { // as for bench-compare: a fair resident set
		return nil, "", 0, nil, err
	}
	addr, stop, pid, err := startServer(bin, resources, dir, tlsFiles)
	if err != nil {
		return nil, "", 0, nil, err
	}
	if client, err = mtlsClient(tlsFiles, conc); err != nil {
		stop()
		return nil, "", 0, nil, err
	}
	return client, "https://" + addr + "/ratify/gatekeeper/v1/verify", pid, stop, nil
}

// measureCold counts the registry requests of one cold verification (one
// key, never seen), then the images/s of cold verification of cold, 10
// keys a request.
func measureCold(client *http.Client, url string, reg *counting, one, cold []string, conc int) (perImage int64, rate float64, err error) {
	before := reg.n.Load()
	if _, err := verify(client, url, one); err != nil {
		return 0, 0, err
	}
	perImage = reg.n.Load() - before
	start := time.Now()
	if _, err := load(client, url, batches(cold, 10), conc); err != nil {
		return perImage, 0, err
	}
	return perImage, float64(len(cold)) / time.Since(start).Seconds(), nil
}

func startServer(bin, resources, dir string, f sample.TLSFiles) (addr string, stop func(), pid int, err error) {
	args := []string{"serve", "-c", resources, "--metrics-addr", "-",
		"--cert-dir", dir, "--ca-cert-file", f.CAFile, "--cache-ttl", "1h"}
	// The health port's default (:9099) is fixed, as a pod's is: a second
	// process there (an end-to-end test, the other binary) would make this
	// one fail to start. A baseline from before the flag has no such port.
	if help, _ := exec.Command(bin, "serve", "--help").Output(); bytes.Contains(help, []byte("--health-addr")) {
		args = append(args, "--health-addr", "-")
	}
	if p := os.Getenv("LOADGEN_PPROF"); p != "" {
		args = append(args, "--pprof-addr", p)
	}
	p, err := startProcess(bin, args, "--addr", nil, filepath.Join(dir, "serve.log"))
	if err != nil {
		return "", nil, 0, err
	}
	return p.addr, p.stop, p.pid, nil
}
