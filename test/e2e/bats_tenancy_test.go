package e2e_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/wait"
)

// batsNamespaced is "namespaced notation/cosign verifiers test": with the
// multi-tenancy template and the cluster's Policy, providers and Verifiers
// gone, default's NamespacedPolicy, NamespacedKeyManagementProviders and
// NamespacedVerifiers decide for its pods.
func batsNamespaced(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	cluster := []string{rPolicy + "/ratify-policy", rKMP + "/" + notationKMP, rKMP + "/" + cosignKMP,
		rVerifier + "/verifier-notation", rVerifier + "/verifier-cosign"}
	var saved []string
	for _, r := range cluster {
		saved = append(saved, s.copyAs(t, r, kindOf(r), ""))
	}
	t.Cleanup(func() {
		batsTry(t, s, "delete", "--namespace", "default", "--ignore-not-found", rNsVerif+"/verifier-notation", rNsVerif+"/verifier-cosign",
			rNsKMP+"/"+notationKMP, rNsKMP+"/"+cosignKMP, rNsPolicy+"/ratify-policy")
		s.c.Apply(t, strings.Join(saved, "\n---\n"))
		for _, r := range cluster[1:] {
			s.statusIn(t, "", r, "true", "")
		}
	})
	g.step("NamespacedPolicy and NamespacedKeyManagementProviders in default, copied from the cluster's", func() {
		s.c.Apply(t, strings.Join([]string{
			s.copyAs(t, cluster[0], "NamespacedPolicy", "default"),
			s.copyAs(t, cluster[1], "NamespacedKeyManagementProvider", "default"),
			s.copyAs(t, cluster[2], "NamespacedKeyManagementProvider", "default"),
		}, "\n---\n"))
		s.statusIn(t, "default", rNsKMP+"/"+notationKMP, "true", "")
		s.statusIn(t, "default", rNsKMP+"/"+cosignKMP, "true", "")
	})
	g.step("kubectl apply -n default the namespaced notation and cosign verifiers", func() {
		for _, f := range []string{"namespaced_verifier_notation.yaml", "namespaced_verifier_cosign.yaml"} {
			s.c.Kubectl(t, "apply", "--namespace", "default", "-f", tempFile(t, f, readRepo(t, bFile(f)...)))
		}
		s.statusIn(t, "default", rNsVerif+"/verifier-notation", "true", "")
		s.statusIn(t, "default", rNsVerif+"/verifier-cosign", "true", "")
	})
	g.step("kubectl delete the cluster's Policy, KeyManagementProviders and Verifiers", func() {
		s.c.Kubectl(t, append([]string{"delete"}, cluster...)...)
	})
	g.step("notation:signed created, notation:unsigned refused in default", func() {
		s.admittedIn(t, "default", "notation-demo", b.notationSigned(t))
		s.refusedIn(t, "default", "notation-demo1", b.notationUnsigned(t), "")
	})
	g.step("cosign:signed-key created, cosign:unsigned refused in default", func() {
		s.admittedIn(t, "default", "cosign-demo-key", b.cosignSigned(t))
		s.refusedIn(t, "default", "cosign-demo-unsigned", b.cosignUnsigned(t), "")
	})
	g.step("another namespace, with none of default's resources: notation:signed refused", func() {
		s.c.Kubectl(t, "create", "namespace", "other-tenant")
		s.refusedIn(t, "other-tenant", "notation-demo", b.notationSigned(t), "")
	})
}

// kindOf is the kind of a resource named resource.group/name.
func kindOf(resource string) string {
	kinds := map[string]string{rStore: "Store", rVerifier: "Verifier", rKMP: "KeyManagementProvider", rPolicy: "Policy"}
	r, _, _ := strings.Cut(resource, "/")
	return kinds[r]
}

// batsAcrossNamespace is "notation test with certs across namespace". In
// Ratify a cluster Verifier naming new-namespace's provider admits
// new-namespace's pods; ratify follows the KMP document's visibility (a
// cluster Verifier sees cluster providers only, docs/resources.md): the
// Verifier reports it and every image is refused saying so. The
// supported form, a NamespacedVerifier of new-namespace, then admits
// new-namespace's pods only.
func batsAcrossNamespace(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	const ns = "new-namespace"
	saved := s.copyAs(t, rKMP+"/"+notationKMP, "KeyManagementProvider", "")
	t.Cleanup(func() {
		s.c.Apply(t, saved)
		s.c.Apply(t, readRepo(t, bFile("verifier_notation.yaml")...))
		batsTry(t, s, "delete", "namespace", ns, "--wait=false")
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("kubectl create namespace new-namespace; the notation provider copied there as a NamespacedKeyManagementProvider", func() {
		s.c.Kubectl(t, "create", "namespace", ns)
		s.c.Apply(t, s.copyAs(t, rKMP+"/"+notationKMP, "NamespacedKeyManagementProvider", ns))
		s.statusIn(t, ns, rNsKMP+"/"+notationKMP, "true", "")
	})
	g.step("kubectl delete keymanagementprovider ratify-notation-inline-cert-0", func() {
		s.c.Kubectl(t, "delete", rKMP+"/"+notationKMP)
	})
	g.step("kubectl apply the cluster Verifier naming new-namespace/ratify-notation-inline-cert-0: its status says it may not", func() {
		s.c.Apply(t, vars{"KMP_NAMESPACE": ns}.file(t, bFile("verifier_notation_specificnskmprovider.yaml")...))
		msg := s.statusIn(t, "", rVerifier+"/verifier-notation", "false", ns+"/"+notationKMP)
		t.Logf("verifier-notation: issuccess false: %s", msg)
	})
	g.step("kubectl run -n new-namespace demo --image=notation:signed: refused, naming the mistake", func() {
		s.refusedIn(t, ns, "demo", b.notationSigned(t), "cannot use the namespaced key management provider")
	})
	g.step("the supported form: a NamespacedVerifier of new-namespace naming its provider, the cluster's deleted", func() {
		s.c.Kubectl(t, "delete", rVerifier+"/verifier-notation")
		doc := strings.ReplaceAll(readRepo(t, bFile("namespaced_verifier_notation.yaml")...), "default/", ns+"/")
		s.c.Kubectl(t, "apply", "--namespace", ns, "-f", tempFile(t, "verifier.yaml", doc))
		s.statusIn(t, ns, rNsVerif+"/verifier-notation", "true", "")
	})
	g.step("kubectl run -n new-namespace: notation:signed created, notation:unsigned refused; in default signed refused", func() {
		s.admittedIn(t, ns, "demo", b.notationSigned(t))
		s.refusedIn(t, ns, "demo1", b.notationUnsigned(t), "")
		s.refusedIn(t, "default", "demo", b.notationSigned(t), "")
	})
}

// batsTLSRotation is "validate ratify/gatekeeper tls cert rotation":
// ratify's certificate replaced by hand (the Providers' caBundle, then the
// Secret ratify-tls), and signed images still admitted. Gatekeeper's own
// half (Secret gatekeeper-webhook-server-cert) does not apply here: the
// Gatekeeper harness serves and presents the certificate of its cert
// directory, not of that Secret, so rotating the Secret would only change
// the client CA ratify trusts, not the certificate Gatekeeper presents.
func batsTLSRotation(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	next := newServingCert(t)
	ca := base64.StdEncoding.EncodeToString(next.ca)
	g.step("kubectl patch the Providers' caBundle to the new CA: Gatekeeper no longer trusts ratify's certificate", func() {
		for _, p := range s.providers() {
			s.c.Kubectl(t, "patch", rProvider+"/"+p, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"caBundle":%q}}`, ca))
		}
		for _, p := range s.providers() {
			s.gk.WaitProvider(t, p)
		}
		// Fail closed: a provider Gatekeeper cannot reach admits nothing
		// (the mutation webhook, first, already refuses the pod).
		image := b.notationSigned(t)
		var msg string
		wait.For(t, admissionWait, "a signed image refused while Gatekeeper distrusts ratify", func() string {
			pods++
			_, err := s.kubectlRunIn("default", fmt.Sprintf("demo-%d", pods), image)
			if err == nil {
				return "admitted"
			}
			if msg = err.Error(); !strings.Contains(msg, "certificate signed by unknown authority") {
				return msg
			}
			return ""
		})
		t.Logf("kubectl run --image=%s: %s", image, strings.TrimPrefix(msg, "kubectl failed: "))
	})
	g.step("kubectl patch secret ratify-tls with the new certificate and key: ratify serves them", func() {
		patch := fmt.Sprintf(`{"data":{"tls.crt":%q,"tls.key":%q,"ca.crt":%q}}`,
			base64.StdEncoding.EncodeToString(next.cert), base64.StdEncoding.EncodeToString(next.key), ca)
		s.c.Kubectl(t, "patch", "secret", release+"-tls", "--namespace", ratifyNS, "--type=merge", "-p", patch)
		took := wait.For(t, 90*time.Second, "ratify serves the new certificate", func() string { return servedBy(next.caCert) })
		t.Logf("ratify serves the new certificate %s after the Secret changed", took.Round(10*time.Millisecond))
		for _, p := range s.providers() {
			s.gk.WaitProvider(t, p)
		}
	})
	g.step("kubectl run demo --image=notation:signed: created; unsigned refused", func() {
		s.wantAdmitted(t, "demo", b.notationSigned(t))
		s.wantRefused(t, "demo1", b.notationUnsigned(t))
	})
}
