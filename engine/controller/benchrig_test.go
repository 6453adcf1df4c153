package controller_test

// What the benchmarks of bench_test.go run on: ratify in cluster mode on a
// fresh control plane, a registry of signed images, and the resources.

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
