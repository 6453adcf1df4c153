package gatekeeper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// Where the chart installs Gatekeeper, and the objects it makes there.
const (
	// Namespace is the chart's release namespace in the guide.
	Namespace = "gatekeeper-system"
	// PodName is the placeholder Pod Gatekeeper runs as ($POD_NAME): it
	// owns Gatekeeper's status objects and stays Pending (no kubelet).
	PodName = "gatekeeper-local"
	// SecretName holds Gatekeeper's CA and serving certificate (ca.crt,
	// ca.key, tls.crt, tls.key), as its rotator writes it; a provider's
	// chart looks it up to require Gatekeeper's client certificate.
	SecretName = "gatekeeper-webhook-server-cert"
)

// timeout bounds each wait: Gatekeeper takes 10 to 30 s to start on two
// busy cores, and longer to compile a template while other tests run.
const timeout = 90 * time.Second

// ErrNotReady is what a readiness poll returns until its condition holds.
var ErrNotReady = errors.New("not ready")

// Options are the settings of the guide's Gatekeeper Helm install that a
// test may change. The zero value is the guide's.
type Options struct {
	// Hosts resolve to 127.0.0.1 for gatekeeper only, e.g. a provider's
	// Service names "ratify.gatekeeper-system" and
	// "ratify.gatekeeper-system.svc".
	Hosts []string
	// ResponseCacheTTL is --external-data-provider-response-cache-ttl
	// (the chart's externaldataProviderResponseCacheTTL): 0 means the
	// guide's 10s, a negative value turns the cache off.
	ResponseCacheTTL time.Duration
	// ValidatingTimeoutSeconds is the validation webhook's timeoutSeconds
	// (the guide's validatingWebhookTimeoutSeconds): 0 means 5.
	ValidatingTimeoutSeconds int
	// MutatingTimeoutSeconds is the mutation webhook's timeoutSeconds (the
	// guide's mutatingWebhookTimeoutSeconds): 0 means 2.
	MutatingTimeoutSeconds int
	// FailurePolicy of the validation and mutation webhooks: "" means the
	// chart's Ignore; "Fail" refuses what Gatekeeper does not answer for.
	FailurePolicy string
	// LogLevel is --log-level: "" means INFO.
	LogLevel string
	// LogDenies is --log-denies: each denial is logged.
	LogDenies bool
	// Args are more gatekeeper flags, after the others.
	Args []string
}

func (o Options) withDefaults() Options {
	if o.ResponseCacheTTL == 0 {
		o.ResponseCacheTTL = 10 * time.Second
	}
	if o.ResponseCacheTTL < 0 {
		o.ResponseCacheTTL = 0
	}
	if o.ValidatingTimeoutSeconds == 0 {
		o.ValidatingTimeoutSeconds = 5
	}
	if o.MutatingTimeoutSeconds == 0 {
		o.MutatingTimeoutSeconds = 2
	}
	if o.FailurePolicy == "" {
		o.FailurePolicy = "Ignore"
	}
	if o.LogLevel == "" {
		o.LogLevel = "INFO"
	}
	return o
}

// Gatekeeper is a running gatekeeper process with its webhooks registered,
// stopped when the test ends.
type Gatekeeper struct {
	// URL is the webhook server, https://127.0.0.1:<port>.
	URL string

	c          *cluster.Cluster
	certs      *certs
	proc       *process
	healthAddr string
}

// Start installs Gatekeeper's CRDs, namespace, placeholder Pod and
// certificate Secret in c, runs gatekeeper with all its default operations
// and registers its webhooks; it returns once the webhooks answer.
func Start(t testing.TB, c *cluster.Cluster, opts Options) *Gatekeeper {
	t.Helper()
	bin := tools.Path(t, "gatekeeper")
	crds := tools.GatekeeperCRDs(t)
	opts = opts.withDefaults()
	began := time.Now()

	c.Kubectl(t, "apply", "-f", crds)
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout="+timeout.String(), "-f", crds)
	installSystem(t, c)

	cs, err := newCerts()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := cs.writeCertDir(certDir); err != nil {
		t.Fatal(err)
	}
	c.Apply(t, secretYAML(cs))
	hosts, err := hostsFile(opts.Hosts)
	if err != nil {
		t.Fatal(err)
	}
	hostsPath := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsPath, hosts, 0o644); err != nil {
		t.Fatal(err)
	}

	ports := freePorts(t, 4)
	g := &Gatekeeper{
		URL:        "https://127.0.0.1:" + strconv.Itoa(ports[0]),
		c:          c,
		certs:      cs,
		healthAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
	}
	args := []string{
		"--port=" + strconv.Itoa(ports[0]),
		"--host=127.0.0.1",
		"--health-addr=" + g.healthAddr,
		"--metrics-addr=127.0.0.1:" + strconv.Itoa(ports[2]),
		// Gatekeeper binds its Prometheus exporter on every address; a free
		// port keeps it out of the way.
		"--prometheus-port=" + strconv.Itoa(ports[3]),
		"--cert-dir=" + certDir,
		"--disable-cert-rotation",
		"--enable-external-data=true",
		"--external-data-provider-response-cache-ttl=" + opts.ResponseCacheTTL.String(),
		"--log-level=" + opts.LogLevel,
		"--log-denies=" + strconv.FormatBool(opts.LogDenies),
		"--validating-webhook-configuration-name=" + ValidatingWebhookName,
		"--mutating-webhook-configuration-name=" + MutatingWebhookName,
		// No Service endpoints to drain: the chart's 10 s delay would only
		// slow every test's end.
		"--shutdown-delay=0",
	}
	for _, ns := range exemptNamespaces {
		args = append(args, "--exempt-namespace="+ns)
	}
	args = append(args, opts.Args...)

	env := []string{"KUBECONFIG=" + c.Kubeconfig, "POD_NAMESPACE=" + Namespace, "POD_NAME=" + PodName}
	g.proc = startProcess(t, bin, args, env, hostsPath, filepath.Join(dir, "gatekeeper.log"))
	t.Cleanup(func() { g.stop(t) })

	g.waitHealthy(t)
	webhooks, err := webhooksYAML(g.URL, cs.caCert, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, webhooks)
	g.waitWebhooks(t)
	t.Logf("gatekeeper up in %s (webhooks at %s)", time.Since(began).Round(time.Millisecond), g.URL)
	return g
}

// installSystem makes the chart's namespace, labelled as its post-install
// hook labels it, the kube-system label, and the placeholder Pod.
func installSystem(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	c.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: `+Namespace+`
  labels:
    `+IgnoreLabel+`: no-self-managing
---
apiVersion: v1
kind: Pod
metadata:
  name: `+PodName+`
  namespace: `+Namespace+`
spec:
  containers:
  - name: manager
    image: gatekeeper:local
`)
	c.Kubectl(t, "label", "namespace", "kube-system", IgnoreLabel+"=extra-namespaces", "--overwrite")
}

// secretYAML is gatekeeper-webhook-server-cert with the keys Gatekeeper's
// rotator writes.
func secretYAML(cs *certs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n", SecretName, Namespace)
	b.WriteString("  labels:\n    gatekeeper.sh/system: \"yes\"\ntype: Opaque\nstringData:\n")
	for _, kv := range []struct {
		key  string
		data []byte
	}{{"ca.crt", cs.caCert}, {"ca.key", cs.caKey}, {"tls.crt", cs.cert}, {"tls.key", cs.key}} {
		fmt.Fprintf(&b, "  %s: |\n", kv.key)
		for _, line := range strings.Split(strings.TrimRight(string(kv.data), "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// CA is the PEM of Gatekeeper's CA: it issued the serving certificate and
// the client certificate Gatekeeper presents to providers.
func (g *Gatekeeper) CA() []byte {
	return append([]byte(nil), g.certs.caCert...)
}

// Logs is gatekeeper's log so far.
func (g *Gatekeeper) Logs() string {
	return g.proc.logs()
}

// stop deletes the webhook configurations, so that whatever the test does
// after does not wait on a stopped Gatekeeper, and ends the process; on
// failure the log's tail goes into the test's output first.
func (g *Gatekeeper) stop(t testing.TB) {
	if _, err := g.c.TryKubectl("delete", "--ignore-not-found", "--wait=false",
		"validatingwebhookconfiguration/"+ValidatingWebhookName,
		"mutatingwebhookconfiguration/"+MutatingWebhookName); err != nil {
		t.Logf("removing gatekeeper's webhooks: %v", err)
	}
	// The tail is taken before the stop, whose own lines would fill it.
	if t.Failed() {
		t.Logf("gatekeeper's log, last lines:\n%s", g.proc.tail(logTailLines))
	}
	g.proc.stop()
}
