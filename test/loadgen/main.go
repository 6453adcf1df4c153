// Command loadgen measures `ratify serve` the way Gatekeeper uses it:
// Gatekeeper-shaped requests (10 keys each) over mutual TLS on loopback,
// against a loopback registry of cosign-signed images. `make bench` runs it.
//
// It prints: warm (cached) request latency p50/p99 and keys/s; cold
// verification images/s; registry requests per cold verification of an
// image with one signature, on the OCI 1.1 registry and on the
// distribution registry (tag schema); peak RSS of the server after -keys
// keys over -images distinct images. With -compare it measures a second
// binary the same way in the same run and prints the ratios.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/tools"
)

func main() {
	bin := flag.String("ratify", "bin/ratify", "the ratify binary")
	compare := flag.String("compare", "", "another ratify binary measured the same way in the same run (a baseline)")
	images := flag.Int("images", 10000, "distinct signed images")
	keys := flag.Int("keys", 100000, "keys sent in the RSS run")
	cold := flag.Int("cold", 1000, "images verified cold for the images/s figure")
	warm := flag.Int("warm", 20000, "warm requests")
	conc := flag.Int("concurrency", 4, "requests in flight")
	distImages := flag.Int("distribution-images", 200, "images on the distribution registry (0 skips it)")
	flag.Parse()
	bins := []string{*bin}
	if *compare != "" {
		bins = append(bins, *compare)
	}
	if err := run(bins, *images, *keys, *cold, *warm, *conc, *distImages); err != nil {
		log.Fatal(err)
	}
}

// counting counts requests reaching the registry.
type counting struct {
	next http.Handler
	n    atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	if os.Getenv("LOADGEN_TRACE") != "" {
		log.Println(r.Method, r.URL.String())
	}
	c.next.ServeHTTP(w, r)
}

// figures are one binary's measurements.
type figures struct {
	warmP50, warmP99 time.Duration
	warmKeys         float64
	warmCPU          time.Duration // server CPU per warm key
	coldRate         float64
	perImage         int64
	rss              int64
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
		fmt.Printf("peak RSS of ratify serve after %d keys over %d images: %.1f MiB\n", nKeys, nImages, float64(f.rss)/(1<<20))
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
	if f.rss, err = peakRSS(pid); err != nil {
		return f, err
	}
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
	target, _ := neturl.Parse("http://" + upstream)
	reg := &counting{next: httputil.NewSingleHostReverseProxy(target)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = http.Serve(ln, reg) }()
	defer ln.Close()
	name := ln.Addr().String() + "/bench/app"
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

// startDistribution runs the registry binary on a loopback port.
func startDistribution(bin, dir string) (host string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return host, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("the distribution registry did not start")
}

func pushSigned(ctx context.Context, name string, key *sample.CosignKey, n int) ([]string, error) {
	refs := make([]string, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := atomic.Int64{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				repoName := fmt.Sprintf("%s-%d", name, i)
				repo, err := remote.NewRepository(repoName)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				repo.PlainHTTP = true
				tag := "v1"
				d, err := sample.PushImage(ctx, repo, tag)
				if err == nil {
					_, err = sample.Cosign(ctx, key, repo, repoName, d, "")
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				refs[i] = repoName + ":" + tag
			}
		}()
	}
	wg.Wait()
	return refs, firstErr
}

func startServer(bin, resources, dir string, f sample.TLSFiles) (addr string, stop func(), pid int, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, 0, err
	}
	addr = l.Addr().String()
	l.Close()
	args := []string{"serve", "-c", resources, "--addr", addr, "--metrics-addr", "-",
		"--cert-dir", dir, "--ca-cert-file", f.CAFile, "--cache-ttl", "1h"}
	if p := os.Getenv("LOADGEN_PPROF"); p != "" {
		args = append(args, "--pprof-addr", p)
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return "", nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, 0, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() }
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, cmd.Process.Pid, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	return "", nil, 0, fmt.Errorf("ratify serve did not start:\n%s", log)
}

func mtlsClient(f sample.TLSFiles, conc int) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: conc,
	}}, nil
}

func batches(refs []string, n int) [][]string {
	var out [][]string
	for i := 0; i < len(refs); i += n {
		out = append(out, refs[i:min(i+n, len(refs))])
	}
	return out
}

// load sends the batches with conc requests in flight and returns each
// request's latency.
func load(client *http.Client, url string, bs [][]string, conc int) ([]time.Duration, error) {
	lat := make([]time.Duration, len(bs))
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bs) {
					return
				}
				start := time.Now()
				if _, err := verify(client, url, bs[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				lat[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	return lat, firstErr
}

// verify sends one request and checks every key was admitted.
func verify(client *http.Client, url string, keys []string) (int, error) {
	body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": keys}})
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var pr struct {
		Response struct {
			Items []struct {
				Key   string `json:"key"`
				Value struct {
					IsSuccess bool `json:"isSuccess"`
				} `json:"value"`
				Error string `json:"error"`
			} `json:"items"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return 0, err
	}
	for _, it := range pr.Response.Items {
		if it.Error != "" || !it.Value.IsSuccess {
			return 0, fmt.Errorf("%s not admitted: %s", it.Key, it.Error)
		}
	}
	if len(pr.Response.Items) != len(uniq(keys)) {
		return 0, errors.New("missing items")
	}
	return len(pr.Response.Items), nil
}

func uniq(keys []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is the CPU the process has used (user and system), from
// /proc/<pid>/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// peakRSS is the process's high-water resident set (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d kB", &kb)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}
