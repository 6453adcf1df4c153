package library_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/registry/remote"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/library"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// world is a loopback registry with images signed at test time, and the
// ratify resources that trust them: a notation certificate for the cluster,
// and a cosign key that only namespace team-b trusts.
type world struct {
	reg    *regtest.Registry
	images map[string]string // name -> reference as a Pod names it
	digest map[string]ocispec.Descriptor
	yaml   string
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func newWorld(t *testing.T) *world {
	t.Helper()
	reg := regtest.StartOCI11(t, 0)
	w := &world{reg: reg, images: map[string]string{}, digest: map[string]ocispec.Descriptor{}}
	pki := sign.NewPKI(t, sign.Options{CommonName: "release"})
	keyB := sign.NewCosignKey(t)
	push := func(name, repo string, byDigest bool, signFn func(*remote.Repository, ocispec.Descriptor)) {
		r := regtest.Repo(t, reg.Host, repo, "", "")
		d := regtest.PushImage(t, r, "v1")
		if signFn != nil {
			signFn(r, d)
		}
		w.images[name], w.digest[name] = reg.Host+"/"+repo+":v1", d
		if byDigest {
			w.images[name] = reg.Host + "/" + repo + "@" + d.Digest.String()
		}
	}
	notation := func(r *remote.Repository, d ocispec.Descriptor) { sign.Notation(t, pki, r, d, sign.JWS) }
	push("web", "apps/web", false, notation)
	push("sidecar", "apps/sidecar", true, notation)
	push("migrate", "apps/migrate", false, notation)
	push("unsigned", "apps/unsigned", false, nil)
	push("team-b", "apps/team-b", false, func(r *remote.Repository, d ocispec.Descriptor) {
		sign.Cosign(t, keyB, r, reg.Host+"/apps/team-b", d, "")
	})
	trustPolicy := fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "default", "registryScopes": ["*"],
    "signatureVerification": {"level": "strict"}, "trustStores": ["ca:certs"], "trustedIdentities": [%s]}]}`, q("x509.subject: "+pki.Subject()))
	w.yaml = fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: store-oras}
spec:
  name: oras
  parameters: {useHttp: true, cosignEnabled: true}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: certs-kmp}
spec:
  type: inline
  parameters: {contentType: certificate, value: %s}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      certs: [certs-kmp]
    trustPolicyDoc: %s
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: key-b, namespace: team-b}
spec:
  type: inline
  parameters: {contentType: key, value: %s}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedVerifier
metadata: {name: verifier-cosign, namespace: team-b}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: team-b/key-b}]}]
`, q(pki.CAPEM()), trustPolicy, q(keyB.PublicPEM()))
	return w
}

// ratify is the real provider, serving HTTPS with mutual TLS on loopback.
type ratify struct {
	addr  string
	caPEM []byte // the CA of its serving certificate
	stop  func()
}

func startRatify(t *testing.T, resources, clientCAFile string, multiTenancy bool) *ratify {
	t.Helper()
	tlsFiles := regtest.NewTLSFiles(t, t.TempDir()) // tls.crt and tls.key for 127.0.0.1
	caPEM, err := os.ReadFile(tlsFiles.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := config.Load(strings.NewReader(resources))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MultiTenancy: multiTenancy})
	ctx, cancel := context.WithCancel(context.Background())
	eng, err := engine.New(ctx, res, srv.EngineOptions(engine.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetEngine(eng)
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-",
			CertDir: filepath.Dir(tlsFiles.CertFile), ClientCAFile: clientCAFile, Ready: func(a string) { ready <- a }})
	}()
	r := &ratify{caPEM: caPEM}
	select {
	case r.addr = <-ready:
	case err := <-done:
		t.Fatalf("ratify serve: %v", err)
	}
	r.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
	return r
}

type containers struct{ main, init, ephemeral []string }

func newPod(namespace string, c containers) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: namespace}}
	for i, img := range c.main {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("main-%d", i), Image: img})
	}
	for i, img := range c.init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("init-%d", i), Image: img})
	}
	for i, img := range c.ephemeral {
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers,
			corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: fmt.Sprintf("debug-%d", i), Image: img}})
	}
	return pod
}

func expectAdmitted(t *testing.T, g *gatekeeper, pod *corev1.Pod) {
	t.Helper()
	if ok, msgs := g.admit(t, pod); !ok || len(msgs) > 0 {
		t.Fatalf("pod in %q denied, want admitted: %q", pod.Namespace, msgs)
	}
}

// expectDenied checks the pod is denied and one violation mentions every
// one of want (an image, a reason).
func expectDenied(t *testing.T, g *gatekeeper, pod *corev1.Pod, want ...string) {
	t.Helper()
	ok, msgs := g.admit(t, pod)
	if ok {
		t.Fatalf("pod in %q admitted, want denied (violations %q)", pod.Namespace, msgs)
	}
	for _, m := range msgs {
		all := true
		for _, w := range want {
			all = all && strings.Contains(m, w)
		}
		if all {
			t.Logf("denied: %s", m)
			return
		}
	}
	t.Fatalf("no violation mentions all of %q: %q", want, msgs)
}

func TestGatekeeperWithLibrary(t *testing.T) {
	w := newWorld(t)
	gkDir := t.TempDir()
	gkCA, gkCert, gkKey := gatekeeperCerts(t, filepath.Join(gkDir, "gatekeeper"))
	rt := startRatify(t, w.yaml, gkCA, false)
	// The multi-tenancy template's installation runs ratify with --multi-tenancy.
	rtMT := startRatify(t, w.yaml, gkCA, true)

	// Gatekeeper's provider cache holds the sample Providers, filled in.
	providers := externaldata.NewCache()
	verify := loadProvider(t, "ratify-provider", rt.addr, rt.caPEM)
	if err := providers.Upsert(verify); err != nil {
		t.Fatalf("Gatekeeper refuses the ratify-provider of %s: %v", library.Providers, err)
	}
	certs, err := certwatcher.New(gkCert, gkKey)
	if err != nil {
		t.Fatal(err)
	}
	def := newGatekeeper(t, providers, certs, library.DefaultTemplate, sampleConstraint(t, library.DefaultConstraint))
	tenants := newGatekeeper(t, providers, certs, library.MultiTenancyTemplate, sampleConstraint(t, library.MultiTenancyConstraint))
	img := w.images

	t.Run("default/all images signed", func(t *testing.T) {
		expectAdmitted(t, def, newPod("default", containers{main: []string{img["web"], img["sidecar"]}, init: []string{img["migrate"]}}))
	})
	t.Run("default/unsigned init container", func(t *testing.T) {
		expectDenied(t, def, newPod("default", containers{main: []string{img["web"]}, init: []string{img["unsigned"]}}),
			img["unsigned"], "no signatures")
	})
	t.Run("default/unsigned ephemeral container", func(t *testing.T) {
		expectDenied(t, def, newPod("default", containers{main: []string{img["web"]}, ephemeral: []string{img["unsigned"]}}),
			img["unsigned"])
	})
	t.Run("default/image missing from the registry", func(t *testing.T) {
		missing := w.reg.Host + "/apps/web:no-such-tag"
		expectDenied(t, def, newPod("default", containers{main: []string{missing}}), missing)
	})
	t.Run("default/cluster scope does not trust team-b's key", func(t *testing.T) {
		expectDenied(t, def, newPod("team-b", containers{main: []string{img["team-b"]}}), img["team-b"])
	})
	t.Run("default/excluded namespace", func(t *testing.T) {
		expectAdmitted(t, def, newPod("kube-system", containers{main: []string{img["unsigned"]}}))
	})

	t.Run("default/pod template of a Deployment", func(t *testing.T) {
		// The sample matches Pods; a constraint may match workloads too.
		c := sampleConstraint(t, library.DefaultConstraint)
		c["spec"].(map[string]any)["match"].(map[string]any)["kinds"] = []any{
			map[string]any{"apiGroups": []any{"apps"}, "kinds": []any{"Deployment"}}}
		workloads := newGatekeeper(t, providers, certs, library.DefaultTemplate, c)
		deploy := func(c containers) (bool, []string) {
			d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}}
			d.Spec.Template.Spec = newPod("", c).Spec
			return workloads.admitObject(t, d, metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, d.ObjectMeta)
		}
		if ok, msgs := deploy(containers{main: []string{img["web"]}}); !ok {
			t.Fatalf("signed Deployment denied: %q", msgs)
		}
		ok, msgs := deploy(containers{main: []string{img["web"]}, init: []string{img["unsigned"]}})
		if ok || len(msgs) != 1 || !strings.Contains(msgs[0], img["unsigned"]) {
			t.Fatalf("Deployment with an unsigned init container: admitted %v, violations %q", ok, msgs)
		}
	})

	// A pod author writes an image string with another namespace's prefix:
	// under either template it is denied, not judged by kube-system's
	// policy (which trusts nothing here, but could trust anything).
	t.Run("default/image string with a namespace prefix", func(t *testing.T) {
		smuggled := "[kube-system]" + img["unsigned"]
		expectDenied(t, def, newPod("team-b", containers{main: []string{smuggled}}), "starts with '['")
	})
	// From here "ratify-provider" is the multi-tenancy installation (the
	// external_data builtin is process-wide, so both templates share one
	// provider cache).
	if err := providers.Upsert(loadProvider(t, "ratify-provider", rtMT.addr, rtMT.caPEM)); err != nil {
		t.Fatal(err)
	}
	t.Run("multi-tenancy/image string with a namespace prefix", func(t *testing.T) {
		smuggled := "[team-b]" + img["team-b"]
		expectDenied(t, tenants, newPod("team-a", containers{main: []string{smuggled}}), "starts with '['")
	})

	t.Run("multi-tenancy/namespace trusts its own key", func(t *testing.T) {
		expectAdmitted(t, tenants, newPod("team-b", containers{main: []string{img["team-b"], img["web"]}}))
	})
	t.Run("multi-tenancy/namespace from the admission request", func(t *testing.T) {
		// A Pod made by a controller may leave metadata.namespace empty.
		pod := newPod("", containers{main: []string{img["team-b"]}})
		pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		meta := metav1.ObjectMeta{Name: pod.Name, Namespace: "team-b"}
		if ok, msgs := tenants.admitObject(t, pod, metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, meta); !ok {
			t.Fatalf("denied, want admitted with team-b's key: %q", msgs)
		}
	})
	t.Run("multi-tenancy/another namespace does not", func(t *testing.T) {
		expectDenied(t, tenants, newPod("team-a", containers{main: []string{img["team-b"]}}), img["team-b"], "namespace team-a")
	})
	t.Run("multi-tenancy/unsigned init container", func(t *testing.T) {
		expectDenied(t, tenants, newPod("team-b", containers{main: []string{img["team-b"]}, init: []string{img["unsigned"]}}),
			img["unsigned"], "namespace team-b")
	})
	t.Run("multi-tenancy/unsigned ephemeral container", func(t *testing.T) {
		expectDenied(t, tenants, newPod("team-b", containers{main: []string{img["web"]}, ephemeral: []string{img["unsigned"]}}),
			img["unsigned"])
	})

	t.Run("mutation provider pins the tag to the verified digest", func(t *testing.T) {
		// The call Gatekeeper's Assign with externalData makes.
		mutate := loadProvider(t, "ratify-mutation-provider", rt.addr, rt.caPEM)
		cert, err := certs.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := externaldata.DefaultSendRequestToProvider(context.Background(), mutate, []string{img["web"], img["sidecar"]}, cert)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			img["web"]:     w.reg.Host + "/apps/web@" + w.digest["web"].Digest.String(),
			img["sidecar"]: img["sidecar"], // already pinned
		}
		if !resp.Response.Idempotent || len(resp.Response.Items) != 2 {
			t.Fatalf("response %+v: want two idempotent items", resp.Response)
		}
		for _, it := range resp.Response.Items {
			if it.Error != "" || it.Value != want[it.Key] {
				t.Errorf("%s -> %v (error %q), want %s", it.Key, it.Value, it.Error, want[it.Key])
			}
		}
	})

	t.Run("mTLS", func(t *testing.T) {
		testMutualTLS(t, rt, gkCert, gkKey, filepath.Join(gkDir, "impostor"), img["web"])
	})

	// From here on ratify is made unreachable in turn; a pod must never be
	// admitted because its answer is missing.
	signedPod := func() *corev1.Pod { return newPod("default", containers{main: []string{img["web"]}}) }
	t.Run("unreachable/provider at a closed port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		if err := providers.Upsert(loadProvider(t, "ratify-provider", closed, rt.caPEM)); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := providers.Upsert(verify); err != nil {
				t.Fatal(err)
			}
		}()
		expectDenied(t, def, signedPod(), img["web"], "system error")
		expectDenied(t, tenants, signedPod(), img["web"], "system error")
	})
	t.Run("unreachable/registry down", func(t *testing.T) {
		w.reg.Stop()
		unseen := w.reg.Host + "/apps/web:unseen"
		expectDenied(t, def, newPod("default", containers{main: []string{unseen}}), unseen, "could not be verified")
		expectDenied(t, tenants, newPod("team-b", containers{main: []string{unseen}}), unseen, "could not be verified")
	})
	t.Run("unreachable/ratify stopped", func(t *testing.T) {
		rt.stop()
		expectDenied(t, def, signedPod(), img["web"], "system error")
		expectDenied(t, tenants, signedPod(), img["web"], "system error")
	})
}

// testMutualTLS calls ratify with a plain Go client: without a client
// certificate and with one from a CA it does not trust (same names as
// Gatekeeper's), it is refused; with Gatekeeper's, it is served.
func testMutualTLS(t *testing.T, rt *ratify, gkCert, gkKey, impostorDir, image string) {
	_, badCert, badKey := gatekeeperCerts(t, impostorDir)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rt.caPEM)
	body, _ := json.Marshal(externaldata.NewProviderRequest([]string{image}))
	call := func(certFile, keyFile string) (*externaldata.ProviderResponse, error) {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if certFile != "" {
			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer client.CloseIdleConnections()
		resp, err := client.Post("https://"+rt.addr+server.VerifyPath, "application/json", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var out externaldata.ProviderResponse
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %s", resp.Status)
		}
		return &out, json.NewDecoder(resp.Body).Decode(&out)
	}
	if _, err := call("", ""); err == nil {
		t.Error("a client without a certificate was served")
	} else {
		t.Logf("no client certificate: %v", err)
	}
	if _, err := call(badCert, badKey); err == nil {
		t.Error("a client with a certificate from another CA was served")
	} else {
		t.Logf("impostor certificate: %v", err)
	}
	resp, err := call(gkCert, gkKey)
	if err != nil {
		t.Fatalf("Gatekeeper's certificate was refused: %v", err)
	}
	if len(resp.Response.Items) != 1 || resp.Response.Items[0].Key != image {
		t.Fatalf("answer %+v: want one item for %s", resp.Response, image)
	}
	value, _ := resp.Response.Items[0].Value.(map[string]any)
	if value["isSuccess"] != true {
		t.Errorf("signed image: value %v, want isSuccess true", resp.Response.Items[0].Value)
	}
}
