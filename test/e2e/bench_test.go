package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// admissionPods is how many pods each admission figure is taken over.
const admissionPods = 100

// BenchmarkAdmission is the latency of `kubectl run` of a cosign-signed
// image through real Gatekeeper (mutation to the digest, then validation)
// and ratify, installed and configured as the guide does: cold, an image
// not seen before each time (ratify resolves the tag and verifies its
// signature in the simulated ACR; Gatekeeper's response cache misses), and
// warm, one image again and again (answered from the caches). Each is taken
// over admissionPods pods with kubectl run (the whole invocation timed) and
// as many created through the API; the figures are p50 and p99 in
// milliseconds (make bench: -benchtime 1x).
func BenchmarkAdmission(b *testing.B) {
	s := newStack(b)
	v := vars{"TENANT_ID": tenant, "IDENTITY_CLIENT_ID": clientID, "CLIENT_ID": clientID, "AKV_NAME": akvName}
	s.install(b, "install", "featureFlags.RATIFY_CERT_ROTATION=true", "azureWorkloadIdentity.clientId="+clientID)
	s.start(b)
	s.waitCABundle(b, "")
	s.gk.WaitProvider(b, "ratify-provider")
	s.gk.WaitProvider(b, "ratify-mutation-provider")
	im := pushGuideImages(b, s, v)
	s.gk.InstallTemplate(b, v.file(b, "library", "default", "template.yaml"), v.file(b, "library", "default", "samples", "constraint.yaml"), nil)
	applyGuideResources(b, s, v)
	waitGuideResources(b, s)
	s.wantAdmitted(b, "bench-warmup", im.cosign)

	key := &sign.CosignKey{Key: im.key.(*ecdsa.PrivateKey)}
	repo := s.cloud.acr.Repository(b, s.cloud.net, "bench/cold")
	cs, err := kubernetes.NewForConfig(s.c.Config)
	if err != nil {
		b.Fatal(err)
	}
	// run admits admissionPods pods of new images (image(i)) with kubectl
	// run, then as many through the API (a client-go create, what kubectl
	// run sends): the second figure leaves out kubectl's own start-up.
	run := func(b *testing.B, name string, image func(i int) string) {
		var viaKubectl, viaAPI []time.Duration
		for n := range b.N {
			images := make([]string, 2*admissionPods)
			for i := range images {
				images[i] = image(n*len(images) + i)
			}
			b.StartTimer()
			for i, img := range images[:admissionPods] {
				start := time.Now()
				if _, err := s.kubectlRun(fmt.Sprintf("%s-%d-%d", name, n, i), img); err != nil {
					b.Fatalf("kubectl run %s: %v", img, err)
				}
				viaKubectl = append(viaKubectl, time.Since(start))
			}
			for i, img := range images[admissionPods:] {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-api-%d-%d", name, n, i)},
					Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: img}}}}
				start := time.Now()
				if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					b.Fatalf("creating a pod of %s: %v", img, err)
				}
				viaAPI = append(viaAPI, time.Since(start))
			}
			b.StopTimer()
		}
		b.ReportMetric(quantileMs(viaKubectl, 0.5), "kubectl-p50-ms")
		b.ReportMetric(quantileMs(viaKubectl, 0.99), "kubectl-p99-ms")
		b.ReportMetric(quantileMs(viaAPI, 0.5), "api-p50-ms")
		b.ReportMetric(quantileMs(viaAPI, 0.99), "api-p99-ms")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("cache=cold", func(b *testing.B) {
		b.StopTimer()
		run(b, "cold", func(i int) string {
			tag := fmt.Sprintf("v%d", i)
			d := regtest.PushImage(b, repo, tag)
			sign.Cosign(b, key, repo, acrName+"/bench/cold", d, "")
			return acrName + "/bench/cold:" + tag
		})
	})
	b.Run("cache=warm", func(b *testing.B) {
		b.StopTimer()
		run(b, "warm", func(int) string { return im.cosign })
	})
}

// quantileMs is the q quantile of lat in milliseconds.
func quantileMs(lat []time.Duration, q float64) float64 {
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}
