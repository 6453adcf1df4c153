package gatekeeper_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/gatekeeper"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// providerHost names the test's provider; only gatekeeper resolves it.
const providerHost = "provider.test.svc"

const requiredLabelsTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8srequiredlabels
spec:
  crd:
    spec:
      names:
        kind: K8sRequiredLabels
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels:
              type: array
              items:
                type: string
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequiredlabels

      violation[{"msg": msg}] {
        required := input.parameters.labels[_]
        not input.review.object.metadata.labels[required]
        msg := sprintf("missing label %v", [required])
      }
`

const requiredLabelsConstraint = `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata:
  name: pods-need-team
spec:
  match:
    kinds:
    - apiGroups: [""]
      kinds: ["Pod"]
    namespaces: ["default"]
  parameters:
    labels: ["team"]
`

// The provider answers each image with an error unless its name says it
// is trusted; the template denies on any error, and on a provider that
// cannot be reached (its name unresolved, say).
const externalDataTemplate = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sexternalimages
spec:
  crd:
    spec:
      names:
        kind: K8sExternalImages
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sexternalimages

      images := [img | img := input.review.object.spec.containers[_].image]

      violation[{"msg": msg}] {
        response := external_data({"provider": "test-provider", "keys": images})
        count(response.errors) > 0
        msg := sprintf("refused by the provider: %v", [response.errors])
      }

      violation[{"msg": msg}] {
        response := external_data({"provider": "test-provider", "keys": images})
        response.system_error != ""
        msg := sprintf("provider failed: %v", [response.system_error])
      }
`

const externalDataConstraint = `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sExternalImages
metadata:
  name: images-checked
spec:
  match:
    kinds:
    - apiGroups: [""]
      kinds: ["Pod"]
    namespaces: ["extdata"]
`

const denied = `admission webhook "validation.gatekeeper.sh" denied the request`

// One Gatekeeper for both cases: its start is the slow part.
func TestGatekeeper(t *testing.T) {
	tools.Path(t, "gatekeeper")
	tools.GatekeeperCRDs(t)
	hostsBefore, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}

	c := cluster.Start(t)
	g := gatekeeper.Start(t, c, gatekeeper.Options{Hosts: []string{providerHost}})

	t.Run("required labels", func(t *testing.T) { testRequiredLabels(t, c, g) })
	t.Run("external data", func(t *testing.T) { testExternalData(t, c, g) })

	hostsAfter, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if string(hostsAfter) != string(hostsBefore) {
		t.Errorf("the machine's /etc/hosts changed:\n%s", hostsAfter)
	}
}

// kubectl run is refused with Gatekeeper's message, and allowed once the
// required label is set.
func testRequiredLabels(t *testing.T, c *cluster.Cluster, g *gatekeeper.Gatekeeper) {
	g.InstallTemplate(t, requiredLabelsTemplate, requiredLabelsConstraint, func() error {
		return deniedRun(c, "default", "busybox", "missing label team")
	})

	_, err := c.TryKubectl("run", "x", "--image=busybox")
	want := denied + ": [pods-need-team] missing label team"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("kubectl run without the label: %v, want %q", err, want)
	}
	if out := c.Kubectl(t, "run", "x", "--image=busybox", "--labels=team=a"); strings.TrimSpace(out) != "pod/x created" {
		t.Fatalf("kubectl run with the label printed %q", out)
	}
}

// A provider on 127.0.0.1, reached by gatekeeper under a name only it
// resolves, with mutual TLS against gatekeeper-webhook-server-cert's
// ca.crt: its answer decides the admission.
func testExternalData(t *testing.T, c *cluster.Cluster, g *gatekeeper.Gatekeeper) {
	if _, err := net.LookupHost(providerHost); err == nil {
		t.Fatalf("%s resolves outside gatekeeper", providerHost)
	}
	p := startProvider(t, c)
	c.Kubectl(t, "create", "namespace", "extdata")
	c.Apply(t, fmt.Sprintf(`apiVersion: externaldata.gatekeeper.sh/v1beta1
kind: Provider
metadata:
  name: test-provider
spec:
  url: https://%s:%s/check
  timeout: 5
  caBundle: %s
`, providerHost, p.port, base64.StdEncoding.EncodeToString(p.caPEM)))
	g.WaitProvider(t, "test-provider")
	g.InstallTemplate(t, externalDataTemplate, externalDataConstraint, func() error {
		return deniedRun(c, "extdata", "busybox", "refused by the provider")
	})

	_, err := c.TryKubectl("-n", "extdata", "run", "bad", "--image=busybox")
	want := denied + `: [images-checked] refused by the provider: [["busybox", "untrusted image"]]`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("kubectl run of an untrusted image: %v, want %q", err, want)
	}
	if out := c.Kubectl(t, "-n", "extdata", "run", "good", "--image=trusted.example/busybox"); strings.TrimSpace(out) != "pod/good created" {
		t.Fatalf("kubectl run of a trusted image printed %q", out)
	}
	if got, want := p.clients(), "gatekeeper-webhook-service.gatekeeper-system.svc"; got != want {
		t.Errorf("gatekeeper's client certificates: %q, want %q", got, want)
	}
}

// deniedRun is nil once Gatekeeper denies a dry-run Pod of image in ns
// for reason: the policy is in force.
func deniedRun(c *cluster.Cluster, ns, image, reason string) error {
	_, err := c.TryKubectl("-n", ns, "run", "probe", "--image="+image, "--dry-run=server")
	if err == nil {
		return fmt.Errorf("%w: a dry-run pod of %s was admitted", gatekeeper.ErrNotReady, image)
	}
	if !strings.Contains(err.Error(), denied) || !strings.Contains(err.Error(), reason) {
		return err
	}
	return nil
}

// provider is the test's external data provider.
type provider struct {
	port  string
	caPEM []byte

	mu   sync.Mutex
	seen map[string]bool // client certificates' common names
}

func (p *provider) clients() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for n := range p.seen {
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// startProvider serves the provider with a certificate for providerHost
// and requires a client certificate from Gatekeeper's CA, as read from the
// Secret (the way a provider's chart finds it).
func startProvider(t *testing.T, c *cluster.Cluster) *provider {
	t.Helper()
	p := &provider{seen: map[string]bool{}}
	cert, caPEM := providerCert(t)
	p.caPEM = caPEM

	gkCA, err := base64.StdEncoding.DecodeString(c.Kubectl(t, "-n", gatekeeper.Namespace, "get", "secret",
		gatekeeper.SecretName, "-o", `jsonpath={.data.ca\.crt}`))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(gkCA) {
		t.Fatalf("no certificate in the secret's ca.crt: %q", gkCA)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			p.mu.Lock()
			p.seen[r.TLS.PeerCertificates[0].Subject.CommonName] = true
			p.mu.Unlock()
		}
		var req struct {
			Request struct {
				Keys []string `json:"keys"`
			} `json:"request"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		items := []map[string]string{}
		for _, k := range req.Request.Keys {
			if strings.HasPrefix(k, "trusted.example/") {
				items = append(items, map[string]string{"key": k, "value": "ok"})
			} else {
				items = append(items, map[string]string{"key": k, "error": "untrusted image"})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
			"kind":       "ProviderResponse",
			"response":   map[string]any{"idempotent": true, "items": items},
		})
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS13,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, p.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return p
}

// providerCert is a serving certificate for providerHost and its CA's PEM.
func providerCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "provider-ca"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(sample.ServerTemplate(providerHost))
	if err != nil {
		t.Fatal(err)
	}
	return cert, ca.PEM()
}
