package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/tools"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// providerDoc is one of the chart's Providers, without a caBundle.
func providerDoc(name, path string) string {
	return fmt.Sprintf(`apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata:
  name: %s
spec:
  url: https://ratify.gatekeeper-system:6001/ratify/gatekeeper/v1/%s
  timeout: 5
`, name, path)
}

// TestCertRotation runs the built binary as the chart's Deployment does
// with RATIFY_CERT_ROTATION=1, as the chart's service account (the
// documented RBAC only), against a real API server with Gatekeeper's CRDs:
// ratify creates and fills the Secret ratify-tls, writes its CA into the
// Providers (the mutation one created later), serves nothing until the
// test, playing the kubelet, mounts the Secret, then serves that
// certificate over mutual TLS; a second replica, not the Lease holder,
// issues nothing and serves the same Secret; deleting the Secret issues a
// new CA and certificate, which the same processes serve once mounted.
func TestCertRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and ratify")
	}
	bin := buildRatify(t)
	c := cluster.Start(t)
	crds := tools.GatekeeperCRDs(t)
	// Without Gatekeeper there is no Provider to write the CA into.
	noGatekeeper := exec.Command(bin, "serve", "--cert-dir", t.TempDir(), "--health-addr=-", "--metrics-addr=-", "--addr=127.0.0.1:0")
	noGatekeeper.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "RATIFY_CERT_ROTATION=1", "HOME="+t.TempDir())
	if out, err := noGatekeeper.CombinedOutput(); err == nil || !strings.Contains(string(out), "serves no externaldata.gatekeeper.sh/v1beta1 Provider: install Gatekeeper first") {
		t.Fatalf("certificate rotation without Gatekeeper's CRDs: %v\n%s", err, out)
	}
	c.Kubectl(t, "apply", "-f", crds)
	c.Kubectl(t, "wait", "--for=condition=established", "--timeout=60s", "crd/providers.externaldata.gatekeeper.sh")
	c.Kubectl(t, "create", "namespace", "gatekeeper-system")
	// The documented RBAC, bound to the user ratify runs as.
	rbac := strings.ReplaceAll(readFile(t, "../../engine/controller/rbac.yaml"),
		"{kind: ServiceAccount, name: ratify-admin, namespace: gatekeeper-system}",
		"{kind: User, name: ratify-admin, apiGroup: rbac.authorization.k8s.io}")
	c.Apply(t, rbac)
	// Mutation off: only the verification Provider exists.
	c.Apply(t, providerDoc("ratify-provider", "verify"))

	r := &rotationRig{c: c, namespace: "gatekeeper-system", secret: "ratify-tls", dns: "ratify.gatekeeper-system"}
	kubeconfig := userKubeconfig(t, c.User(t, "ratify-admin"))
	r.start(t, bin, kubeconfig)

	// The Secret appears, filled with a CA and a certificate for the Service.
	var first map[string][]byte
	took := wait.For(t, 60*time.Second, "Secret ratify-tls filled", func() string {
		r.running(t)
		first = r.secretData(t)
		for _, k := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
			if len(first[k]) == 0 {
				return fmt.Sprintf("no %s in %v", k, first)
			}
		}
		return ""
	})
	t.Logf("Secret issued in %s", took.Round(time.Millisecond))
	ca, leaf := parseCert(t, first["ca.crt"]), parseCert(t, first["tls.crt"])
	if !ca.IsCA || ca.Subject.CommonName != r.dns {
		t.Errorf("CA: IsCA %v, subject %s; want a CA named %s", ca.IsCA, ca.Subject, r.dns)
	}
	for _, name := range []string{r.dns, r.dns + ".svc", r.dns + ".svc.cluster.local"} {
		if !slices.Contains(leaf.DNSNames, name) {
			t.Errorf("certificate DNS names %v lack %s", leaf.DNSNames, name)
		}
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("certificate key usages %v lack server auth", leaf.ExtKeyUsage)
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("certificate not issued by the Secret's CA: %v", err)
	}

	// The CA goes into the Provider's caBundle.
	wait.For(t, 30*time.Second, "ratify-provider caBundle", func() string {
		if got := r.caBundle(t, "ratify-provider"); got != string(first["ca.crt"]) {
			return fmt.Sprintf("caBundle %q", got)
		}
		return ""
	})

	// Until the Secret is mounted: alive, not ready, the provider port closed.
	if code, body, err := r.get("/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("healthz before the certificate is mounted: %d %q %v", code, body, err)
	}
	if code, body, err := r.get("/readyz"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the TLS certificate") {
		t.Fatalf("readyz before the certificate is mounted: %d %q %v", code, body, err)
	}
	if _, err := r.served(t, string(first["ca.crt"])); err == nil {
		t.Fatal("the provider serves before its certificate is mounted")
	}

	// The kubelet mounts the Secret: ratify serves its certificate.
	r.mount(t, first)
	wait.For(t, 30*time.Second, "ready once mounted", func() string {
		r.running(t)
		if code, body, err := r.get("/readyz"); err != nil || code != http.StatusOK {
			return fmt.Sprintf("readyz %d %q %v", code, body, err)
		}
		return ""
	})
	gatekeeper := r.client(t, r.caBundle(t, "ratify-provider"), false)
	code, body, err := r.verify(gatekeeper, "example.test/app:v1")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"ProviderResponse"`) {
		t.Fatalf("Gatekeeper's request over mutual TLS: %d %s %v", code, body, err)
	}
	if got, err := r.served(t, string(first["ca.crt"])); err != nil || !bytes.Equal(got.Raw, leaf.Raw) {
		t.Fatalf("served certificate: %v", err)
	}
	// --ca-cert-file: a client without a certificate is refused.
	if code, body, err := r.verify(r.client(t, string(first["ca.crt"]), true), "example.test/app:v1"); err == nil {
		t.Fatalf("a client without a certificate was answered: %d %s", code, body)
	}

	// A second replica does not hold the Lease: it issues nothing, and
	// serves the same Secret once it is mounted in its pod.
	r2 := &rotationRig{c: c, namespace: r.namespace, secret: r.secret, dns: r.dns}
	r2.start(t, bin, kubeconfig)
	wait.For(t, 30*time.Second, "second replica waiting for its certificate", func() string {
		r2.running(t)
		if code, body, err := r2.get("/readyz"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the TLS certificate") {
			return fmt.Sprintf("readyz %d %q %v", code, body, err)
		}
		return ""
	})
	r2.mount(t, first)
	wait.For(t, 30*time.Second, "second replica serving", func() string {
		r2.running(t)
		if got, err := r2.served(t, string(first["ca.crt"])); err != nil || !bytes.Equal(got.Raw, leaf.Raw) {
			return fmt.Sprintf("served: %v", err)
		}
		return ""
	})
	if strings.Contains(r2.logs.String(), "starting cert rotator controller") || !strings.Contains(r.logs.String(), "starting cert rotator controller") {
		t.Fatal("the rotator runs on a replica that does not hold the Lease, or not on the one that does")
	}
	if now := r.secretData(t); !bytes.Equal(now["ca.crt"], first["ca.crt"]) || !bytes.Equal(now["tls.crt"], first["tls.crt"]) {
		t.Fatal("a second replica's start issued another certificate")
	}

	// Mutation turned on later: its Provider gets the CA too.
	c.Apply(t, providerDoc("ratify-mutation-provider", "mutate"))
	wait.For(t, 30*time.Second, "ratify-mutation-provider caBundle", func() string {
		if got := r.caBundle(t, "ratify-mutation-provider"); got != string(first["ca.crt"]) {
			return fmt.Sprintf("caBundle %q", got)
		}
		return ""
	})

	// Rotate: deleting the Secret issues a new CA and certificate.
	c.Kubectl(t, "delete", "secret", r.secret, "-n", r.namespace)
	var second map[string][]byte
	took = wait.For(t, 60*time.Second, "a new CA and certificate", func() string {
		r.running(t)
		second = r.secretData(t)
		if len(second["tls.crt"]) == 0 || len(second["ca.crt"]) == 0 || bytes.Equal(second["ca.crt"], first["ca.crt"]) {
			return "no new CA yet"
		}
		return ""
	})
	t.Logf("rotated in %s", took.Round(time.Millisecond))
	for _, p := range []string{"ratify-provider", "ratify-mutation-provider"} {
		wait.For(t, 30*time.Second, p+" caBundle rotated", func() string {
			if got := r.caBundle(t, p); got != string(second["ca.crt"]) {
				return fmt.Sprintf("caBundle %q", got)
			}
			return ""
		})
	}
	// Until the kubelet updates the volume, the old certificate is served.
	if got, err := r.served(t, string(first["ca.crt"])); err != nil || !bytes.Equal(got.Raw, leaf.Raw) {
		t.Fatalf("before the new Secret is mounted: %v", err)
	}
	r.mount(t, second)
	newLeaf := parseCert(t, second["tls.crt"])
	wait.For(t, 30*time.Second, "the new certificate served without a restart", func() string {
		r.running(t)
		got, err := r.served(t, string(second["ca.crt"]))
		if err != nil {
			return err.Error()
		}
		if !bytes.Equal(got.Raw, newLeaf.Raw) {
			return "another certificate is served"
		}
		return ""
	})
	gatekeeper = r.client(t, r.caBundle(t, "ratify-provider"), false)
	if code, body, err := r.verify(gatekeeper, "example.test/app:v1"); err != nil || code != http.StatusOK {
		t.Fatalf("Gatekeeper's request after rotation: %d %s %v", code, body, err)
	}
	if _, err := r.served(t, string(first["ca.crt"])); err == nil {
		t.Fatal("a client trusting only the old CA still accepts the served certificate")
	}
	// The second replica picks up the new certificate too.
	r2.mount(t, second)
	wait.For(t, 30*time.Second, "the second replica serving the new certificate", func() string {
		r2.running(t)
		if got, err := r2.served(t, string(second["ca.crt"])); err != nil || !bytes.Equal(got.Raw, newLeaf.Raw) {
			return fmt.Sprintf("served: %v", err)
		}
		return ""
	})
	r.running(t)
}

// TestCertRotationNeeds: rotation without a cluster, without a cert dir or
// with --http is refused at start, saying what to do; --cert-rotation=false
// overrides RATIFY_CERT_ROTATION.
func TestCertRotationNeeds(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("RATIFY_CERT_ROTATION", "1")
	dir := t.TempDir()
	missing := dir + "/missing.yaml"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", missing, "--cert-dir", dir}, "needs a cluster"},
		{[]string{"--kubeconfig", dir + "/kubeconfig"}, "needs --cert-dir: where the Secret ratify-tls is mounted"},
		{[]string{"--kubeconfig", dir + "/kubeconfig", "--service-name", "other"}, "the Secret other-tls"},
		{[]string{"-c", missing, "--http"}, "cannot be combined with --http"},
		{[]string{"-c", missing, "--cert-dir", dir, "--cert-rotation=false"}, "missing.yaml"},
	} {
		code, _, stderr := runCLI(t, append([]string{"serve"}, tc.args...)...)
		if code != exitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
	t.Setenv("RATIFY_NAME", "from-env")
	if _, _, stderr := runCLI(t, "serve", "--kubeconfig", dir+"/kubeconfig"); !strings.Contains(stderr, "the Secret from-env-tls") {
		t.Errorf("RATIFY_NAME is not the default service name: %q", stderr)
	}
}

func TestLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"": slog.LevelInfo, "debug": slog.LevelDebug, "DEBUG": slog.LevelDebug, "trace": slog.LevelDebug, "Info": slog.LevelInfo,
		"warning": slog.LevelWarn, "warn": slog.LevelWarn, "error": slog.LevelError, "fatal": slog.LevelError,
	} {
		if got, unknown := logLevel(in); got != want || unknown {
			t.Errorf("logLevel(%q) = %v, %v; want %v", in, got, unknown, want)
		}
	}
	if got, unknown := logLevel("loud"); got != slog.LevelInfo || !unknown {
		t.Errorf("logLevel(loud) = %v, %v; want info, unknown", got, unknown)
	}
}
