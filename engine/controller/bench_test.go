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
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/test/sign"
)

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
