package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// Every rendering is accepted by a real kube-apiserver serving ratify's
// and Gatekeeper's CRDs (a server-side dry run validates each object
// against its schema), and what the chart looks up in the cluster (Gatekeeper's
// client CA, an earlier release's certificate) is used as docs/chart.md
// says. One control plane for all of it.
func TestAPIServerAcceptsRenderings(t *testing.T) {
	h := newHelm(t)
	gatekeeperCRDs := tools.GatekeeperCRDs(t)
	c := cluster.Start(t)
	c.Kubectl(t, "create", "-f", gatekeeperCRDs)
	c.Kubectl(t, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
	for _, ns := range []string{"gatekeeper-system", "ratify-system", "reuse"} {
		c.Kubectl(t, "create", "namespace", ns)
	}
	tls := newUserTLS(t)

	for _, in := range installs(t, tls) {
		t.Run(in.name, func(t *testing.T) {
			dryRun(t, c, in.namespace, h.template(t, in))
		})
	}

	// Gatekeeper's webhook certificate Secret in the namespace: ratify
	// trusts its CA for client certificates (mutual TLS).
	t.Run("gatekeeper-client-ca", func(t *testing.T) {
		c.Apply(t, secretYAML("gatekeeper-webhook-server-cert", "gatekeeper-system", map[string]string{"ca.crt": tls.caPEM}))
		rel := h.dryRunInstall(t, c, install{release: "ratify", namespace: "gatekeeper-system"})
		r := read(t, rel.docs)
		if !slices.Contains(r.container.Args, "--ca-cert-file=/usr/local/tls/client-ca/ca.crt") {
			t.Errorf("args %v: no client CA with Gatekeeper's Secret present", r.container.Args)
		}
		var mounted bool
		for _, v := range r.deploy.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "gatekeeper-webhook-server-cert" {
				mounted = len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == "ca.crt"
			}
		}
		if !mounted {
			t.Error("Gatekeeper's ca.crt is not mounted")
		}
		if strings.Contains(rel.notes, "no mutual TLS") {
			t.Errorf("NOTES warn about mutual TLS with Gatekeeper's Secret present:\n%s", rel.notes)
		}
		dryRun(t, c, "gatekeeper-system", rel.manifest)
	})

	// An earlier release's Secret: an upgrade keeps its certificate (pods
	// keep serving it) and the Providers keep trusting its CA; with
	// rotation the chart leaves the Secret to ratify.
	t.Run("existing-certificate", func(t *testing.T) {
		crt, _ := os.ReadFile(tls.crtFile)
		key, _ := os.ReadFile(tls.keyFile)
		c.Apply(t, secretYAML("ratify-tls", "reuse", map[string]string{"tls.crt": string(crt), "tls.key": string(key), "ca.crt": tls.caPEM}))
		rel := h.dryRunInstall(t, c, install{release: "ratify", namespace: "reuse", flags: []string{"--set", "sbom.enabled=true"}})
		s := typed[corev1.Secret](t, rel.docs.must(t, "Secret", "ratify-tls"))
		if string(s.Data["tls.crt"]) != string(crt) || string(s.Data["ca.crt"]) != tls.caPEM {
			t.Error("the chart generated a new certificate over the existing one")
		}
		if got := provider(t, rel.docs, "ratify-provider").caBundle; got != tls.cabundle() {
			t.Error("the Providers do not trust the existing CA")
		}
		for _, want := range []string{"no mutual TLS", "Ignored (Ratify-only, no effect on ratify): sbom.enabled.",
			"verifier-cosign is not created until it has keys"} {
			if !strings.Contains(rel.notes, want) {
				t.Errorf("NOTES lack %q:\n%s", want, rel.notes)
			}
		}
		dryRun(t, c, "reuse", rel.manifest)

		rot := h.dryRunInstall(t, c, install{release: "ratify", namespace: "reuse",
			flags: []string{"--set", "featureFlags.RATIFY_CERT_ROTATION=true"}})
		if rot.docs.find("Secret", "ratify-tls") != nil {
			t.Error("with rotation the chart rewrites the Secret ratify keeps")
		}
		if got := provider(t, rot.docs, "ratify-mutation-provider").caBundle; got != tls.cabundle() {
			t.Error("with rotation the Providers do not trust ratify's current CA")
		}
	})
}

// dryRun runs `kubectl apply --dry-run=server` on a rendering.
func dryRun(t *testing.T, c *cluster.Cluster, namespace, rendered string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rendered.yaml")
	write(t, f, []byte(rendered))
	out := c.Kubectl(t, "apply", "--dry-run=server", "--namespace", namespace, "-f", f)
	if n := strings.Count(out, "(server dry run)"); n != len(parse(t, rendered)) {
		t.Errorf("%d objects rendered, the API server took %d:\n%s", len(parse(t, rendered)), n, out)
	}
}

// release is what `helm install --dry-run=server` rendered, lookups
// answered by the cluster.
type release struct {
	manifest string // the release's objects and hooks, as one YAML
	docs     docs
	notes    string
}

func (h *helm) dryRunInstall(t *testing.T, c *cluster.Cluster, in install) release {
	t.Helper()
	args := append([]string{"install", in.release, chartDir(), "--namespace", in.namespace,
		"--kubeconfig", c.Kubeconfig, "--dry-run=server", "--output", "json"}, in.flags...)
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	var rel struct {
		Manifest string `json:"manifest"`
		Info     struct {
			Notes string `json:"notes"`
		} `json:"info"`
		Hooks []struct {
			Manifest string `json:"manifest"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(out), &rel); err != nil {
		t.Fatalf("helm install --output json: %v", err)
	}
	all := rel.Manifest
	for _, hook := range rel.Hooks {
		all += "\n---\n" + hook.Manifest
	}
	return release{manifest: all, docs: parse(t, all), notes: rel.Info.Notes}
}

func secretYAML(name, namespace string, data map[string]string) string {
	s := corev1.Secret{Data: map[string][]byte{}}
	s.APIVersion, s.Kind = "v1", "Secret"
	s.Name, s.Namespace = name, namespace
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	b, _ := json.Marshal(s)
	return string(b)
}
