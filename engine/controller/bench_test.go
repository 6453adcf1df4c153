package controller_test

// These benchmarks run ratify in cluster mode in one process, as serve
// wires it: a real control plane (test/cluster), a controller manager whose
// Apply builds each configuration on one engine.Shared and swaps it into a
// server, and a client that changes resources while requests go through
// the server's handler. The control plane alone takes longer than
// -benchtime, so each benchmark makes its fixed number of changes once,
// whatever b.N, and reports its figures with b.ReportMetric (ns/op, the
// time of the whole run, is left out).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"oras.land/oras-go/v2/registry/remote"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/controller"
	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

const cosignArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// rig is ratify in cluster mode on a fresh control plane.
type rig struct {
	client  client.Client
	srv     *server.Server
	handler http.Handler
	shared  *engine.Shared
	applies atomic.Int64

	mu       sync.Mutex
	watchers []watcher
}

// inForce is a configuration the server answers with.
type inForce struct {
	at    time.Time     // when the server had it
	build time.Duration // engine.Shared.Build of it
	res   *config.Resources
}

// watcher waits for the first configuration in force that satisfies cond.
type watcher struct {
	cond func(*config.Resources) bool
	ch   chan inForce
}

func startRig(b *testing.B) *rig {
	b.Helper()
	c := cluster.Start(b)
	// Errors only: a status write that loses to the next change (a
	// conflict, retried after the next rebuild) is expected here.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := server.New(server.Options{Logger: log})
	r := &rig{srv: srv, handler: srv.Handler(), shared: engine.NewShared(srv.EngineOptions(engine.Options{Namespace: "default"}))}
	scheme := v1beta1.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	var err error
	if r.client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		b.Fatal(err)
	}
	m, err := controller.New(controller.Options{Config: c.Config, Namespace: "default", Apply: r.apply, Checker: r.shared, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var runErr error
	go func() { runErr = m.Start(ctx); close(stopped) }()
	b.Cleanup(func() {
		cancel()
		<-stopped
		if runErr != nil {
			b.Errorf("manager: %v", runErr)
		}
	})
	select {
	case <-m.Ready():
	case <-stopped:
		b.Fatalf("manager stopped before it was ready: %v", runErr)
	case <-time.After(60 * time.Second):
		b.Fatal("the manager was not ready in 60s")
	}
	return r
}

// apply is the manager's Apply, as serve's: build on the shared caches,
// swap into the server.
func (r *rig) apply(ctx context.Context, res *config.Resources) error {
	began := time.Now()
	eng, err := r.shared.Build(ctx, res)
	if err != nil {
		return err
	}
	r.srv.SetEngine(eng)
	f := inForce{at: time.Now(), build: time.Since(began), res: res}
	r.applies.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.watchers[:0]
	for _, w := range r.watchers {
		if w.cond(res) {
			w.ch <- f
		} else {
			kept = append(kept, w)
		}
	}
	r.watchers = kept
	return nil
}

// when receives the first configuration put in force from now on that
// satisfies cond.
func (r *rig) when(cond func(*config.Resources) bool) <-chan inForce {
	ch := make(chan inForce, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers = append(r.watchers, watcher{cond, ch})
	return ch
}

func await(b *testing.B, ch <-chan inForce, limit time.Duration, what string) inForce {
	b.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(limit):
		b.Fatalf("%s: not in force after %s", what, limit)
		return inForce{}
	}
}

// createAll creates objs with a few clients at once and returns when the
// last create returned.
func (r *rig) createAll(b *testing.B, objs []client.Object) time.Time {
	b.Helper()
	var g errgroup.Group
	g.SetLimit(4)
	var mu sync.Mutex
	var last time.Time
	for _, o := range objs {
		g.Go(func() error {
			if err := r.client.Create(context.Background(), o); err != nil {
				return fmt.Errorf("creating %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
			}
			mu.Lock()
			last = time.Now()
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return last
}

// setKey points the inline provider name at a public key with a merge
// patch of its spec, so it never conflicts with the controller's status
// writes.
func (r *rig) setKey(b *testing.B, obj client.Object, pem string) {
	b.Helper()
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"parameters": map[string]string{"contentType": "key", "value": pem}}})
	if err := r.client.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		b.Fatal(err)
	}
}

// decide sends one verify request through the handler and returns the
// keys it admitted and how long the handler took.
func (r *rig) decide(b *testing.B, body []byte) (map[string]bool, time.Duration) {
	b.Helper()
	allowed, took, err := r.tryDecide(body)
	if err != nil {
		b.Fatal(err)
	}
	return allowed, took
}

// tryDecide is decide for goroutines other than the benchmark's.
func (r *rig) tryDecide(body []byte) (map[string]bool, time.Duration, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body))
	began := time.Now()
	r.handler.ServeHTTP(rec, req)
	took := time.Since(began)
	if rec.Code != http.StatusOK {
		return nil, took, fmt.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		Response struct {
			Items []struct {
				Key   string `json:"key"`
				Value struct {
					IsSuccess bool `json:"isSuccess"`
				} `json:"value"`
			} `json:"items"`
		} `json:"response"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return nil, took, err
	}
	allowed := map[string]bool{}
	for _, it := range resp.Response.Items {
		allowed[it.Key] = it.Value.IsSuccess
	}
	return allowed, took, nil
}

// admitted polls until image is admitted and returns how long it took.
func (r *rig) admitted(b *testing.B, image string, limit time.Duration) time.Duration {
	b.Helper()
	body := request(image)
	began := time.Now()
	for {
		if allowed, _ := r.decide(b, body); allowed[image] {
			return time.Since(began)
		}
		if time.Since(began) > limit {
			b.Fatalf("%s not admitted after %s", image, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

func request(keys ...string) []byte {
	body, _ := json.Marshal(externaldata.ProviderRequest{APIVersion: "externaldata.gatekeeper.sh/v1beta1", Kind: "ProviderRequest",
		Request: externaldata.Request{Keys: keys}})
	return body
}

// registry is a real registry (the in-process OCI 1.1 one) with
// cosign-signed images.
type registry struct {
	host string
	repo *remote.Repository
}

func startRegistry(b *testing.B) *registry {
	reg := regtest.StartOCI11(b, 0)
	return &registry{host: reg.Host, repo: regtest.Repo(b, reg.Host, "app", "", "")}
}

// signed pushes an image signed with key and returns its reference.
func (g *registry) signed(b *testing.B, key *sign.CosignKey, tag string) string {
	d := regtest.PushImage(b, g.repo, tag)
	sign.Cosign(b, key, g.repo, g.host+"/app", d, "")
	return g.host + "/app:" + tag
}

func raw(v any) kruntime.RawExtension {
	b, _ := json.Marshal(v)
	return kruntime.RawExtension{Raw: b}
}

// storeObj is a plain-HTTP oras Store with cosign signatures.
func storeObj() *v1beta1.Store {
	return &v1beta1.Store{ObjectMeta: metav1.ObjectMeta{Name: "store-oras"}, Spec: v1beta1.StoreSpec{Name: "oras",
		Parameters: raw(map[string]any{"useHttp": true, "cosignEnabled": true, "authProvider": map[string]string{"name": "anonymous"}})}}
}

func kmpSpec(pem string) v1beta1.KeyManagementProviderSpec {
	return v1beta1.KeyManagementProviderSpec{Type: v1beta1.KMPInline, Parameters: raw(map[string]string{"contentType": "key", "value": pem})}
}

// cosignSpec is a cosign Verifier of every registry with the keys of the
// provider.
func cosignSpec(provider string) v1beta1.VerifierSpec {
	return v1beta1.VerifierSpec{Name: "cosign", ArtifactTypes: cosignArtifactType, Parameters: raw(map[string]any{
		"trustPolicies": []any{map[string]any{"name": "default", "scopes": []string{"*"}, "keys": []any{map[string]string{"provider": provider}}}}})}
}

func kmpObj(name string, key *sign.CosignKey) *v1beta1.KeyManagementProvider {
	return &v1beta1.KeyManagementProvider{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kmpSpec(key.PublicPEM())}
}

func verifierObj(name, provider string) *v1beta1.Verifier {
	return &v1beta1.Verifier{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: cosignSpec(provider)}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile of ds, in ms.
func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return ms(s[max(0, min(i, len(s)-1))])
}

// rssMiB is the process's resident memory after a collection that gives
// freed memory back, so that two readings compare what is live.
func rssMiB(b *testing.B) (rss, heap float64) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024, float64(st.HeapInuse) / (1 << 20)
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0, 0
}

// BenchmarkKMPChangeToDecision is how long a key rotation takes to reach
// admission: a KeyManagementProvider is switched between key A and key B
// 50 times; each time, from the update returning to the first decision
// that admits the image signed with the new key (watch, reconcile,
// debounce, rebuild, swap, evaluation).
func BenchmarkKMPChangeToDecision(b *testing.B) {
	const changes = 50
	r := startRig(b)
	reg := startRegistry(b)
	keys := []*sign.CosignKey{sign.NewCosignKey(b), sign.NewCosignKey(b)}
	images := []string{reg.signed(b, keys[0], "a"), reg.signed(b, keys[1], "b")}
	kmp := kmpObj("bench-key", keys[0])
	r.createAll(b, []client.Object{storeObj(), kmp, verifierObj("verifier-cosign", "bench-key")})
	r.admitted(b, images[0], 30*time.Second)

	applies := r.applies.Load()
	var took []time.Duration
	for i := 1; i <= changes; i++ {
		next := i % 2
		r.setKey(b, kmp, keys[next].PublicPEM())
		took = append(took, r.admitted(b, images[next], 30*time.Second))
		if allowed, _ := r.decide(b, request(images[1-next])); allowed[images[1-next]] {
			b.Fatalf("change %d: the image of the replaced key is still admitted", i)
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(took, 0.50), "p50-ms")
	b.ReportMetric(percentile(took, 0.99), "p99-ms")
	b.ReportMetric(float64(r.applies.Load()-applies), "rebuilds")
}

// BenchmarkServingDuringStorm is the latency of warm 10-key requests (the
// same signed images, decided before) while 200 unrelated providers are
// updated as fast as the client can, and how many rebuilds that made.
func BenchmarkServingDuringStorm(b *testing.B) {
	const storm = 200
	r := startRig(b)
	reg := startRegistry(b)
	key := sign.NewCosignKey(b)
	var images []string
	for i := range 10 {
		images = append(images, reg.signed(b, key, fmt.Sprintf("v%d", i)))
	}
	objs := []client.Object{storeObj(), kmpObj("bench-key", key), verifierObj("verifier-cosign", "bench-key")}
	var others []*v1beta1.KeyManagementProvider
	for i := range storm {
		o := kmpObj(fmt.Sprintf("storm-%03d", i), sign.NewCosignKey(b))
		others, objs = append(others, o), append(objs, o)
	}
	all := r.when(func(res *config.Resources) bool { return len(res.KMPs) == storm+1 })
	r.createAll(b, objs)
	await(b, all, 2*time.Minute, "the providers")
	next := make([]string, storm)
	for i := range next {
		next[i] = sign.NewCosignKey(b).PublicPEM()
	}
	body := request(images...)
	denied := func(allowed map[string]bool) error {
		for _, img := range images {
			if !allowed[img] {
				return fmt.Errorf("%s denied", img)
			}
		}
		return nil
	}
	if warm, _ := r.decide(b, body); denied(warm) != nil {
		b.Fatal(denied(warm))
	}

	// Every provider updated once: all at generation 2.
	settled := r.when(func(res *config.Resources) bool {
		n := 0
		for _, k := range res.KMPs {
			if strings.HasPrefix(k.Name, "storm-") && k.Generation >= 2 {
				n++
			}
		}
		return n == storm
	})
	applies := r.applies.Load()
	stop := make(chan struct{})
	// took is every request; fresh the first after each rebuild (a new
	// revision: nothing cached applies, its keys are evaluated again).
	var took, fresh []time.Duration
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		seen := r.applies.Load()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := r.applies.Load()
			allowed, d, err := r.tryDecide(body)
			if err == nil {
				err = denied(allowed)
			}
			if err != nil {
				serveErr = err
				return
			}
			took = append(took, d)
			if n != seen {
				fresh, seen = append(fresh, d), n
			}
			time.Sleep(time.Millisecond)
		}
	}()
	began := time.Now()
	for i, o := range others {
		r.setKey(b, o, next[i])
	}
	changed := time.Now()
	f := await(b, settled, 2*time.Minute, "the storm's last change")
	close(stop)
	<-served
	if serveErr != nil {
		b.Fatalf("during the storm: %v", serveErr)
	}

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(took, 0.50), "p50-ms")
	b.ReportMetric(percentile(took, 0.99), "p99-ms")
	b.ReportMetric(percentile(took, 1), "max-ms")
	b.ReportMetric(float64(len(took)), "requests")
	if len(fresh) > 0 {
		b.ReportMetric(percentile(fresh, 0.50), "after-rebuild-p50-ms")
	}
	slow := 0
	for _, d := range took {
		if d > 5*time.Millisecond {
			slow++
		}
	}
	b.ReportMetric(float64(slow), "over-5ms")
	b.ReportMetric(float64(r.applies.Load()-applies), "rebuilds")
	b.ReportMetric(ms(changed.Sub(began)), "storm-ms")
	b.ReportMetric(ms(f.at.Sub(changed)), "settle-ms")
}

// BenchmarkScale is 1,000 Verifiers and 1,000 key management providers,
// nearly all namespaced across 100 namespaces: how long after the last
// create the configuration holding all of them is in force, what one
// Apply of it costs, and the memory it takes.
func BenchmarkScale(b *testing.B) {
	const namespaces, each, clusterWide = 100, 1000, 10
	r := startRig(b)
	ctx := context.Background()
	var nsObjs []client.Object
	for i := range namespaces {
		nsObjs = append(nsObjs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%03d", i)}})
	}
	r.createAll(b, append(nsObjs, storeObj()))

	var objs []client.Object
	for i := range clusterWide {
		name := fmt.Sprintf("kmp-%d", i)
		objs = append(objs, kmpObj(name, sign.NewCosignKey(b)), verifierObj(fmt.Sprintf("verifier-%d", i), name))
	}
	for i := range each - clusterWide {
		meta := metav1.ObjectMeta{Namespace: fmt.Sprintf("team-%03d", i%namespaces), Name: fmt.Sprintf("kmp-%d", i/namespaces)}
		objs = append(objs, &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: meta, Spec: kmpSpec(sign.NewCosignKey(b).PublicPEM())})
		vmeta := meta
		vmeta.Name = fmt.Sprintf("verifier-%d", i/namespaces)
		objs = append(objs, &v1beta1.NamespacedVerifier{ObjectMeta: vmeta, Spec: cosignSpec(meta.Namespace + "/" + meta.Name)})
	}
	rssBefore, heapBefore := rssMiB(b)
	full := r.when(func(res *config.Resources) bool {
		return len(res.KMPs)+len(res.NamespacedKMPs) == each && len(res.Verifiers)+len(res.NamespacedVerifiers) == each
	})
	applies := r.applies.Load()
	began := time.Now()
	last := r.createAll(b, objs)
	f := await(b, full, 5*time.Minute, "the 2,000 resources")
	rebuilds := r.applies.Load() - applies

	// Status is written after each rebuild; the last one is on every
	// resource when all of them say issuccess.
	for {
		var kmps v1beta1.NamespacedKeyManagementProviderList
		var vs v1beta1.NamespacedVerifierList
		if err := r.client.List(ctx, &kmps); err != nil {
			b.Fatal(err)
		}
		if err := r.client.List(ctx, &vs); err != nil {
			b.Fatal(err)
		}
		ok := 0
		for _, k := range kmps.Items {
			if k.Status.IsSuccess {
				ok++
			}
		}
		for _, v := range vs.Items {
			if v.Status.IsSuccess {
				ok++
			}
		}
		if ok == 2*(each-clusterWide) {
			break
		}
		if time.Since(last) > 10*time.Minute {
			b.Fatalf("status written on %d of %d namespaced resources after 10m", ok, 2*(each-clusterWide))
		}
		time.Sleep(200 * time.Millisecond)
	}
	statusDone := time.Now()
	rssAfter, heapAfter := rssMiB(b)

	// The same snapshot again with nothing else running: on the serving
	// Shared (whose last build compiled it), then on a new one.
	rebuilt := time.Now()
	if _, err := r.shared.Build(ctx, f.res); err != nil {
		b.Fatal(err)
	}
	idleBuild := time.Since(rebuilt)
	rebuilt = time.Now()
	if _, err := engine.NewShared(r.srv.EngineOptions(engine.Options{Namespace: "default"})).Build(ctx, f.res); err != nil {
		b.Fatal(err)
	}
	coldBuild := time.Since(rebuilt)

	// A key rotation in one namespace, everything else unchanged.
	rotated := &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "team-000", Name: "kmp-0"}}
	rotatedInForce := r.when(func(res *config.Resources) bool {
		for _, k := range res.NamespacedKMPs {
			if k.Namespace == rotated.Namespace && k.Name == rotated.Name {
				return k.Generation >= 2
			}
		}
		return false
	})
	r.setKey(b, rotated, sign.NewCosignKey(b).PublicPEM())
	patched := time.Now()
	rot := await(b, rotatedInForce, 2*time.Minute, "the rotated key")

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(last.Sub(began).Seconds(), "create-s")
	b.ReportMetric(ms(f.at.Sub(last)), "in-force-ms")
	b.ReportMetric(ms(f.build), "apply-ms")
	b.ReportMetric(ms(idleBuild), "idle-apply-ms")
	b.ReportMetric(ms(coldBuild), "cold-apply-ms")
	b.ReportMetric(float64(rebuilds), "rebuilds")
	b.ReportMetric(ms(rot.at.Sub(patched)), "rotate-ms")
	b.ReportMetric(statusDone.Sub(last).Seconds(), "status-s")
	b.ReportMetric(rssBefore, "rss-before-MiB")
	b.ReportMetric(rssAfter, "rss-after-MiB")
	b.ReportMetric(heapAfter-heapBefore, "heap-delta-MiB")
}
