package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// TestRatifyScenarios runs the scenarios of Ratify v1.4.4's own
// end-to-end suite (test/bats/base-test.bats) that apply to the kinds
// ratify implements, on the real stack: the chart installed as Ratify's
// e2e installs it (Makefile e2e-helm-deploy-ratify: notationCerts[0],
// cosignKeys[0], cosign.tLogVerify=false, oras.useHttp=true, registry
// credentials), a plain HTTP distribution registry, images signed by the
// real notation and cosign CLIs, Gatekeeper admitting or refusing
// `kubectl run` through ratify. Each scenario leaves the cluster as the
// next expects, as the bats teardowns do; Ratify's resources are in
// testdata/bats.
//
// Left out: what ratify has no kind for (the license checker, SBOM and
// vulnerability verifiers, dynamic plugins, keyless cosign, the
// k8s-secrets auth provider), timestamping and CRL checks, which need a
// TSA and a CRL server of their own, and the chart rendering test, which
// is test/chart's.
func TestRatifyScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	g := &guide{t: t}
	var b *bats
	g.step("distribution registry (htpasswd); notation cert generate-test, cosign generate-key-pair", func() { b = newBats(t) })
	g.step("control plane, Gatekeeper", func() { b.s = newClusterStack(t) })
	s := b.s
	g.step("kubectl create secret docker-registry for the registry, in ratify's namespace", func() {
		s.c.Kubectl(t, "create", "secret", "docker-registry", regSecret, "--namespace", ratifyNS,
			"--docker-server="+b.reg.Host, "--docker-username="+regUser, "--docker-password="+regPassword)
	})
	g.step("helm install ratify --set notationCerts[0] --set cosignKeys[0] --set oras.useHttp=true ...", func() {
		s.install(t, "install", "notationCerts[0]="+b.certPEM, "cosignKeys[0]="+b.cosignPub,
			"cosign.tLogVerify=false", "oras.useHttp=true", "registryCredsSecret="+regSecret)
	})
	g.step("ratify runs as the chart's Deployment", func() { s.start(t) })
	g.step("Gatekeeper takes the chart's Providers", func() {
		s.gk.WaitProvider(t, "ratify-provider")
		s.gk.WaitProvider(t, "ratify-mutation-provider")
	})
	g.step("kubectl apply -f library/default/template.yaml and samples/constraint.yaml", func() {
		probe := b.notationUnsigned(t)
		s.gk.InstallTemplate(t, readRepo(t, "library", "default", "template.yaml"), readRepo(t, "library", "default", "samples", "constraint.yaml"), func() error {
			if _, err := s.c.TryKubectl("run", "probe", "--namespace", "default", "--image="+probe, "--dry-run=server"); err == nil {
				return fmt.Errorf("an unsigned image is not refused yet")
			}
			return nil
		})
	})

	type scenario struct {
		name string
		run  func(t *testing.T, b *bats)
	}
	// A scenario that fails leaves the cluster as the next would not
	// expect: the rest would only fail after it.
	run := func(scs ...scenario) bool {
		for _, sc := range scs {
			if !t.Run(sc.name, func(t *testing.T) { sc.run(t, b) }) {
				return false
			}
		}
		return true
	}
	if !run(
		scenario{"notation and cosign test", batsBasics},
		scenario{"base test without cert rotator", batsBase},
		scenario{"cosign legacy keyed test", batsCosignLegacy},
		scenario{"validate mutation tag to digest", batsMutation},
		scenario{"validate crd add, replace and delete", batsCRDs},
		scenario{"crd version test", batsCRDVersion},
		scenario{"store crd status check", batsStoreStatus},
		scenario{"validate inline certificate store provider", batsInlineCertStore},
		scenario{"validate inline key management provider", batsInlineKMP},
		scenario{"validate image signed by leaf cert", batsLeafCert},
		scenario{"validate inline key management provider with inline certificate store", batsKMPOverCertStore},
	) {
		return
	}

	// Ratify's suite runs the multi-tenancy template throughout; ratify
	// honours its [namespace] keys with multiTenancy.enabled. The new
	// process belongs to this test, not to a scenario, so it outlives them.
	g.step("helm upgrade ratify --set multiTenancy.enabled=true; ratify restarted with --multi-tenancy", func() {
		s.install(t, "upgrade", "multiTenancy.enabled=true")
		s.start(t)
		if !strings.Contains(strings.Join(s.ratify.Args, " "), "--multi-tenancy") {
			t.Fatalf("ratify runs without --multi-tenancy: %s", strings.Join(s.ratify.Args, " "))
		}
		s.gk.WaitProvider(t, "ratify-provider")
		s.gk.WaitProvider(t, "ratify-mutation-provider")
	})
	g.step("kubectl apply -f library/multi-tenancy-validation/template.yaml and samples/constraint.yaml", func() {
		probe := b.notationUnsigned(t)
		s.gk.InstallTemplate(t, readRepo(t, "library", "multi-tenancy-validation", "template.yaml"),
			readRepo(t, "library", "multi-tenancy-validation", "samples", "constraint.yaml"), func() error {
				// Only the multi-tenancy template says in which namespace.
				_, err := s.c.TryKubectl("run", "probe", "--namespace", "default", "--image="+probe, "--dry-run=server")
				if err == nil || !strings.Contains(err.Error(), "in namespace default") {
					return fmt.Errorf("the multi-tenancy template is not in force yet: %v", err)
				}
				return nil
			})
	})
	run(
		scenario{"namespaced notation/cosign verifiers test", batsNamespaced},
		scenario{"notation test with certs across namespace", batsAcrossNamespace},
		scenario{"validate ratify/gatekeeper tls cert rotation", batsTLSRotation},
	)
}

// readRepo reads a file of the repository.
func readRepo(t testing.TB, path ...string) string {
	t.Helper()
	return vars{}.file(t, path...)
}

// batsBasics is "notation test" and "cosign test": the chart's inline
// providers are in force, signed images are admitted, unsigned refused.
func batsBasics(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	g.step("kubectl get keymanagementprovider ratify-notation-inline-cert-0, ratify-cosign-inline-key-0: issuccess true", func() {
		s.statusIn(t, "", rKMP+"/"+notationKMP, "true", "")
		s.statusIn(t, "", rKMP+"/"+cosignKMP, "true", "")
		t.Logf("kubectl get store,keymanagementprovider,verifier:\n%s", s.c.Kubectl(t, "get", rStore+","+rKMP+","+rVerifier))
	})
	g.step("kubectl run demo --image=notation:signed: created", func() { s.wantAdmitted(t, "demo", b.notationSigned(t)) })
	g.step("kubectl run demo1 --image=notation:unsigned: refused", func() {
		s.refusedIn(t, "default", "demo1", b.notationUnsigned(t), "no signatures")
	})
	g.step("kubectl run cosign-demo-key --image=cosign:signed-key: created", func() {
		s.wantAdmitted(t, "cosign-demo-key", b.cosignSigned(t))
	})
	g.step("kubectl run cosign-demo-unsigned --image=cosign:unsigned: refused", func() {
		s.wantRefused(t, "cosign-demo-unsigned", b.cosignUnsigned(t))
	})
}

// batsBase is the rest of "base test without cert rotator": init
// containers and ephemeral containers are verified as containers are.
func batsBase(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	g.step("kubectl apply -f pod_initContainers_signed.yaml: created, both images pinned to their digest", func() {
		doc := vars{"SIGNED": b.notationSigned(t), "SIGNED_INIT": b.notationSigned(t)}.file(t, bFile("pod_initContainers_signed.yaml")...)
		s.c.Kubectl(t, "apply", "--namespace", "default", "-f", tempFile(t, "pod.yaml", doc))
		got := s.c.Kubectl(t, "get", "pod", "initcontainer-pod1", "--namespace", "default", "-o", "jsonpath={.spec.containers[0].image} {.spec.initContainers[0].image}")
		if strings.Count(got, "@sha256:") != 2 {
			t.Errorf("the pod runs %s: not both pinned to a digest", got)
		}
		t.Logf("initcontainer-pod1 runs %s", got)
	})
	g.step("kubectl apply -f pod_initContainers_unsigned.yaml: refused, naming the init container's image", func() {
		unsigned := b.notationUnsigned(t)
		doc := vars{"SIGNED": b.notationSigned(t), "UNSIGNED": unsigned}.file(t, bFile("pod_initContainers_unsigned.yaml")...)
		_, err := s.c.TryKubectl("apply", "--namespace", "default", "-f", tempFile(t, "pod.yaml", doc))
		if err == nil || !strings.Contains(err.Error(), `denied the request`) || !strings.Contains(err.Error(), "no signatures") ||
			!strings.Contains(err.Error(), b.digest(t, unsigned)) {
			t.Fatalf("a pod with an unsigned init container: %v", err)
		}
		t.Logf("kubectl apply: %s", strings.TrimPrefix(err.Error(), "kubectl failed: "))
	})
	g.step("kubectl debug demo --image=notation:signed --target=demo: the ephemeral container is added", func() {
		s.c.Kubectl(t, "run", "demo", "--namespace", "default", "--image="+b.notationSigned(t), "--restart=Never")
		signed := b.notationSigned(t)
		s.c.Kubectl(t, "debug", "demo", "--namespace", "default", "--image="+signed, "--target=demo", "--quiet")
		got := s.c.Kubectl(t, "get", "pod", "demo", "--namespace", "default", "-o", "jsonpath={.spec.ephemeralContainers[*].image}")
		if got != signed {
			t.Errorf("the pod's ephemeral containers run %q, want %s", got, signed)
		}
	})
	g.step("kubectl debug demo --image=notation:unsigned --target=demo: refused", func() {
		unsigned := b.notationUnsigned(t)
		_, err := s.c.TryKubectl("debug", "demo", "--namespace", "default", "--image="+unsigned, "--target=demo", "--quiet")
		if err == nil || !strings.Contains(err.Error(), `denied the request`) || !strings.Contains(err.Error(), "no signatures") {
			t.Fatalf("an unsigned ephemeral container: %v", err)
		}
		t.Logf("kubectl debug: %s", strings.TrimPrefix(err.Error(), "kubectl failed: "))
	})
}

// batsCosignLegacy is "cosign legacy keyed test". Ratify reads the key
// file its chart mounts from cosign.key; ratify takes keys only from key
// management providers (the chart makes cosign.key one) and refuses the
// legacy Verifier, saying why. Replacing a valid Verifier with it keeps
// the valid one in force (docs/serve.md: an invalid resource never widens
// what is admitted), so the bats assertion, cosign-signed admitted, holds;
// created without a valid version before it, cosign signatures have no
// verifier and are refused.
func batsCosignLegacy(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	legacy := func() string {
		return tempFile(t, "verifier.yaml", readRepo(t, bFile("verifier_cosign_legacy.yaml")...))
	}
	t.Cleanup(func() {
		s.c.Apply(t, readRepo(t, bFile("verifier_cosign.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-cosign", "true", "")
	})
	g.step("kubectl replace -f config_v1beta1_verifier_cosign_legacy.yaml: refused, the previous generation in force", func() {
		s.c.Kubectl(t, "replace", "-f", legacy())
		msg := s.statusIn(t, "", rVerifier+"/verifier-cosign", "false", "stays in force")
		if !strings.Contains(msg, "key file") {
			t.Errorf("verifier-cosign's status does not say that a key file is not supported: %s", msg)
		}
		t.Logf("verifier-cosign: issuccess false: %s", msg)
		s.wantAdmitted(t, "cosign-demo-key", b.cosignSigned(t))
		s.wantRefused(t, "cosign-demo-unsigned", b.cosignUnsigned(t))
	})
	g.step("kubectl delete, then create the legacy verifier-cosign: cosign:signed-key refused", func() {
		s.c.Kubectl(t, "delete", rVerifier+"/verifier-cosign")
		s.c.Kubectl(t, "create", "-f", legacy())
		msg := s.statusIn(t, "", rVerifier+"/verifier-cosign", "false", "key file")
		t.Logf("verifier-cosign: issuccess false: %s", msg)
		s.refusedIn(t, "default", "cosign-demo-key", b.cosignSigned(t), "no signatures")
	})
	g.step("kubectl apply -f config_v1beta1_verifier_cosign.yaml: cosign:signed-key created", func() {
		s.c.Apply(t, readRepo(t, bFile("verifier_cosign.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-cosign", "true", "")
		s.wantAdmitted(t, "cosign-demo-key", b.cosignSigned(t))
	})
}

// batsMutation is "validate mutation tag to digest": a pod created by tag
// runs the image by the digest ratify verified.
func batsMutation(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	g.step("kubectl run mutate-demo --image=notation:signed: the pod's image is @sha256 of the signed digest", func() {
		image := b.notationSigned(t)
		got := s.admittedIn(t, "default", "mutate-demo", image)
		if want := b.reg.Host + "/notation@" + b.digest(t, image); got != want {
			t.Errorf("the pod runs %s, want %s", got, want)
		}
	})
}

// batsCRDs is "validate crd add, replace and delete": without a notation
// verifier a notation-signed image is refused; with one again, admitted.
// (Ratify's scenario also adds its license checker verifier, which ratify
// does not have: an unknown verifier would deny every image, so it is left
// out.)
func batsCRDs(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	g.step("kubectl delete verifier verifier-notation; kubectl run crdtest --image=notation:signed: refused", func() {
		s.c.Kubectl(t, "delete", rVerifier+"/verifier-notation")
		s.refusedIn(t, "default", "crdtest", b.notationSigned(t), "no signatures")
	})
	g.step("kubectl create -f config_v1beta1_verifier_notation.yaml; kubectl run crdtest: created", func() {
		s.c.Kubectl(t, "create", "-f", tempFile(t, "verifier.yaml", readRepo(t, bFile("verifier_notation.yaml")...)))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
		s.wantAdmitted(t, "crdtest", b.notationSigned(t))
	})
	g.step("kubectl replace -f the chart's verifier-notation, trusting a provider that is not there: refused", func() {
		doc := strings.Replace(readRepo(t, bFile("verifier_notation.yaml")...), notationKMP, "missing-kmp", 1)
		s.c.Kubectl(t, "replace", "-f", tempFile(t, "verifier.yaml", doc))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "false", "missing-kmp")
		s.wantRefused(t, "crdtest", b.notationSigned(t))
	})
	g.step("kubectl replace -f config_v1beta1_verifier_notation.yaml: created again", func() {
		s.c.Kubectl(t, "replace", "-f", tempFile(t, "verifier.yaml", readRepo(t, bFile("verifier_notation.yaml")...)))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
		s.wantAdmitted(t, "crdtest", b.notationSigned(t))
	})
}

// batsCRDVersion is "crd version test": v1alpha1 Verifier and Store
// documents are served as v1beta1, and ratify uses them.
func batsCRDVersion(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	for _, c := range []struct{ what, resource, file string }{
		{"verifier verifier-notation", rVerifier + "/verifier-notation", "v1alpha1_verifier_notation.yaml"},
		{"store store-oras", rStore + "/store-oras", "v1alpha1_store_oras_http.yaml"},
	} {
		g.step("kubectl delete "+c.what+"; kubectl apply its v1alpha1 sample: served as v1beta1, issuccess true", func() {
			s.c.Kubectl(t, "delete", c.resource)
			s.c.Apply(t, readRepo(t, bFile(c.file)...))
			if got := s.c.Kubectl(t, "get", c.resource, "-o", "jsonpath={.apiVersion}"); got != "config.ratify.deislabs.io/v1beta1" {
				t.Errorf("%s is served as %s", c.resource, got)
			}
			s.statusIn(t, "", c.resource, "true", "")
		})
	}
	g.step("kubectl run --image=notation:signed: created; notation:unsigned refused", func() {
		s.wantAdmitted(t, "crd-version", b.notationSigned(t))
		s.wantRefused(t, "crd-version", b.notationUnsigned(t))
	})
}

// batsStoreStatus is "store crd status check": an invalid Store's status
// says why. Ratify answers "plugin not found" for its dynamic plugin
// store; ratify has only the oras store and names the store type it does
// not know.
func batsStoreStatus(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	t.Cleanup(func() {
		if _, err := s.c.TryKubectl("delete", rStore+"/store-dynamic", "--ignore-not-found"); err != nil {
			t.Error(err)
		}
	})
	g.step("kubectl apply the dynamic store with an invalid plugin: kubectl describe says why", func() {
		s.c.Apply(t, readRepo(t, bFile("store_dynamic_invalid.yaml")...))
		msg := s.statusIn(t, "", rStore+"/store-dynamic", "false", "dynamic")
		describe := s.c.Kubectl(t, "describe", rStore+"/store-dynamic", "--namespace", ratifyNS)
		if !strings.Contains(describe, msg) {
			t.Errorf("kubectl describe does not show the status error %q:\n%s", msg, describe)
		}
		t.Logf("kubectl describe store store-dynamic:\n%s", describe)
	})
	g.step("kubectl delete store store-dynamic; signed images still admitted", func() {
		s.c.Kubectl(t, "delete", rStore+"/store-dynamic")
		s.wantAdmitted(t, "store-check", b.notationSigned(t))
	})
}

// batsInlineCertStore is "validate inline certificate store provider": the
// deprecated CertificateStore with the alternate certificate, trusted by
// the notation verifier, admits what that certificate signed.
func batsInlineCertStore(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	saved := s.copyAs(t, rKMP+"/"+notationKMP, "KeyManagementProvider", "")
	t.Cleanup(func() {
		batsTry(t, s, "delete", rCertSt+"/certstore-inline", "--namespace", ratifyNS, "--ignore-not-found")
		s.c.Apply(t, saved)
		s.c.Apply(t, readRepo(t, bFile("verifier_notation.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("kubectl run demo-alternate --image=notation:signed-alternate: refused (certificate not trusted)", func() {
		s.wantRefused(t, "demo-alternate", b.alternateSigned(t))
	})
	g.step("kubectl delete keymanagementprovider ratify-notation-inline-cert-0", func() {
		s.c.Kubectl(t, "delete", rKMP+"/"+notationKMP)
	})
	g.step("kubectl apply -n gatekeeper-system the inline CertificateStore with the alternate certificate; its verifier", func() {
		s.c.Kubectl(t, "apply", "--namespace", ratifyNS, "-f", tempFile(t, "certstore.yaml", vars{"CERT_PEM": pemDoc(b.altPEM)}.file(t, bFile("certstore_inline.yaml")...)))
		s.statusIn(t, ratifyNS, rCertSt+"/certstore-inline", "true", "")
		s.c.Apply(t, readRepo(t, bFile("verifier_notation_certstore.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("kubectl run demo-alternate --image=notation:signed-alternate: created", func() {
		s.wantAdmitted(t, "demo-alternate", b.alternateSigned(t))
	})
}

// batsInlineKMP is "validate inline key management provider": the same
// with an inline KeyManagementProvider.
func batsInlineKMP(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	t.Cleanup(func() {
		batsTry(t, s, "delete", rKMP+"/keymanagementprovider-inline", "--ignore-not-found")
		s.c.Apply(t, readRepo(t, bFile("verifier_notation.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("kubectl run demo-alternate --image=notation:signed-alternate: refused", func() {
		s.wantRefused(t, "demo-alternate", b.alternateSigned(t))
	})
	g.step("kubectl apply the inline KeyManagementProvider with the alternate certificate; its verifier", func() {
		s.c.Apply(t, vars{"CERT_PEM": pemDoc(b.altPEM)}.file(t, bFile("kmprovider_inline.yaml")...))
		s.statusIn(t, "", rKMP+"/keymanagementprovider-inline", "true", "")
		s.c.Apply(t, readRepo(t, bFile("verifier_notation_kmprovider.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("kubectl run demo-alternate --image=notation:signed-alternate: created", func() {
		s.wantAdmitted(t, "demo-alternate", b.alternateSigned(t))
	})
}

// batsLeafCert is "validate image signed by leaf cert": a signature
// verifies against the root of its chain in the inline provider, not
// against its leaf alone.
func batsLeafCert(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	t.Cleanup(func() {
		batsTry(t, s, "delete", rKMP+"/keymanagementprovider-inline", "--ignore-not-found")
		s.c.Apply(t, readRepo(t, bFile("verifier_notation.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
	})
	g.step("the root certificate as inline KeyManagementProvider, its verifier: notation:leafSigned created", func() {
		s.c.Apply(t, vars{"CERT_PEM": pemDoc(b.leaf.CAPEM())}.file(t, bFile("kmprovider_inline.yaml")...))
		s.statusIn(t, "", rKMP+"/keymanagementprovider-inline", "true", "")
		s.c.Apply(t, readRepo(t, bFile("verifier_notation_kmprovider.yaml")...))
		s.statusIn(t, "", rVerifier+"/verifier-notation", "true", "")
		s.wantAdmitted(t, "demo-leaf", b.leafSigned(t))
	})
	g.step("the leaf certificate instead of the root: notation:leafSigned refused", func() {
		s.c.Apply(t, vars{"CERT_PEM": pemDoc(sample.CertPEM(b.leaf.Leaf))}.file(t, bFile("kmprovider_inline.yaml")...))
		s.statusIn(t, "", rKMP+"/keymanagementprovider-inline", "true", "")
		s.refusedIn(t, "default", "demo-leaf2", b.leafSigned(t), "not a CA certificate")
	})
}

// batsKMPOverCertStore is "validate inline key management provider with
// inline certificate store": a CertificateStore named as the chart's
// notation KeyManagementProvider does not take its place.
func batsKMPOverCertStore(t *testing.T, b *bats) {
	s, g := b.s, &guide{t: t}
	t.Cleanup(func() {
		batsTry(t, s, "delete", rCertSt+"/"+notationKMP, "--namespace", ratifyNS, "--ignore-not-found")
	})
	g.step("kubectl get keymanagementprovider ratify-notation-inline-cert-0: issuccess true; notation:signed created", func() {
		s.statusIn(t, "", rKMP+"/"+notationKMP, "true", "")
		s.wantAdmitted(t, "demo", b.notationSigned(t))
	})
	g.step("kubectl apply -n gatekeeper-system CertificateStore ratify-notation-inline-cert-0 (another certificate)", func() {
		before := len(s.ratify.Logs())
		s.c.Kubectl(t, "apply", "--namespace", ratifyNS, "-f", tempFile(t, "certstore.yaml", readRepo(t, bFile("certstore_inline_invalid.yaml")...)))
		s.statusIn(t, ratifyNS, rCertSt+"/"+notationKMP, "true", "")
		// ratify has taken the resource in, whatever it made of it.
		wait.For(t, 30*time.Second, "ratify's controllers take the CertificateStore", func() string {
			if l := s.ratify.Logs()[before:]; strings.Contains(l, "configuration applied") || strings.Contains(l, "configuration refused") {
				return ""
			}
			return "no new configuration yet"
		})
	})
	g.step("kubectl run demo1 --image=notation:signed: created, the KeyManagementProvider still in force", func() {
		s.wantAdmitted(t, "demo1", b.notationSigned(t))
	})
}

// batsTry runs kubectl for a teardown: a failure is reported, the rest of
// the teardown still runs.
func batsTry(t testing.TB, s *stack, args ...string) {
	t.Helper()
	if _, err := s.c.TryKubectl(args...); err != nil {
		t.Error(err)
	}
}
