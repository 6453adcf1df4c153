package e2e_test

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2"

	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// guide runs the steps of a guide in order and prints each with its
// outcome (go test -v, make e2e); a step that fails stops the ones after.
type guide struct {
	t *testing.T
	n int
}

func (g *guide) step(what string, f func()) {
	g.t.Helper()
	g.n++
	start := time.Now()
	done := false
	defer func() {
		outcome := "ok"
		if !done || g.t.Failed() {
			outcome = "FAILED"
		}
		g.t.Logf("step %2d: %-78s %s (%s)", g.n, what, outcome, time.Since(start).Round(10*time.Millisecond))
	}()
	f()
	done = true
}

// vars are the guide's shell variables.
type vars map[string]string

// file reads one of the guide's resource files, its variables expanded as
// the guide's shell does.
func (v vars) file(t testing.TB, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{repoRoot()}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return os.Expand(string(b), func(k string) string {
		val, ok := v[k]
		if !ok {
			t.Fatalf("%s uses $%s, which the test does not set", filepath.Join(path...), k)
		}
		return val
	})
}

func guideFile(name string) []string { return []string{"cmd", "ratify", "testdata", "guide", name} }
func akvFile(name string) []string   { return []string{"test", "azuresim", "testdata", "guide", name} }
func e2eFile(name string) []string   { return []string{"test", "e2e", "testdata", name} }

// TestGuide is "Ratify on Azure" end to end, as a user runs it: Gatekeeper
// with the guide's Helm values, `helm install` of charts/ratify with the
// guide's --sets, ratify running as the chart's Deployment (its args, env
// and ServiceAccount; the workload identity webhook's variables), the
// guide's YAML applied with kubectl, and `kubectl run` admitted or refused
// by Gatekeeper through ratify. Azure (Entra ID, ACR, Key Vault) is
// simulated (test/azuresim) under its public names; images are signed by
// the real notation and cosign CLIs.
func TestGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	g := &guide{t: t}
	var s *stack
	g.step("control plane, Gatekeeper with the guide's values, simulated Azure", func() { s = newStack(t) })
	c := s.cloud
	v := vars{"TENANT_ID": tenant, "IDENTITY_CLIENT_ID": clientID, "CLIENT_ID": clientID, "AKV_NAME": akvName}

	g.step("helm install ratify --set featureFlags.RATIFY_CERT_ROTATION=true --set azureWorkloadIdentity.clientId", func() {
		s.install(t, "install", "featureFlags.RATIFY_CERT_ROTATION=true", "azureWorkloadIdentity.clientId="+clientID)
	})
	g.step("ratify runs as the chart's Deployment, as ServiceAccount ratify-admin", func() { s.start(t) })
	var ca string
	g.step("ratify issues its certificate and patches the Providers' caBundle; Gatekeeper takes them", func() {
		ca = s.waitCABundle(t, "")
		s.gk.WaitProvider(t, "ratify-provider")
		s.gk.WaitProvider(t, "ratify-mutation-provider")
	})

	monitor := c.acr.Repository(t, c.net, "ratify-demo/net-monitor")
	var im guideImages
	g.step("images pushed; net-monitor signed with notation and cosign, net-watcher not", func() { im = pushGuideImages(t, s, v) })
	notationSigned, cosignSigned, unsigned, cosignKey := im.notation, im.cosign, im.unsigned, im.key

	g.step("kubectl apply -f library/default/template.yaml and samples/constraint.yaml", func() {
		s.gk.InstallTemplate(t, v.file(t, "library", "default", "template.yaml"), v.file(t, "library", "default", "samples", "constraint.yaml"), func() error {
			_, err := s.c.TryKubectl("run", "probe", "--namespace", "default", "--image="+unsigned, "--dry-run=server")
			if err == nil {
				return fmt.Errorf("an unsigned image is not refused yet")
			}
			return nil
		})
	})

	g.step("kubectl apply the guide's Store, KeyManagementProvider and Verifiers", func() { applyGuideResources(t, s, v) })
	g.step("kubectl get store, keymanagementprovider, verifier: ISSUCCESS true for each", func() { waitGuideResources(t, s) })

	g.step("kubectl run demo-signed --image=$IMAGE_SIGNED: created, image pinned to its digest", func() {
		s.wantAdmitted(t, "demo-signed", notationSigned)
	})
	g.step("kubectl run demo-signed-cosign (signed with the vault's key): created", func() {
		s.wantAdmitted(t, "demo-signed-cosign", cosignSigned)
	})
	g.step("kubectl run demo-unsigned --image=$IMAGE_UNSIGNED: refused by Gatekeeper, naming the image", func() {
		s.wantRefused(t, "demo-unsigned", unsigned, "no signatures")
	})

	g.step("fine-tuned trust policy for cosign: a provider per registry", func() {
		acr2 := azuresim.StartACR(t, c.net, c.entra, azuresim.ACROptions{Name: "ratifytest2.azurecr.io"})
		acr2.Assign(clientID, azuresim.RoleAcrPull)
		signer2 := newSigner(t, c.net, acr2)
		_, key2, err := c.vault.CreateKey("ratify-cosign-2", keyvaultsim.KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v["ACR_NAME1"], v["ACR_NAME2"] = "ratifytest", "ratifytest2"
		v["KEY_NAME1"], v["KEY_NAME2"] = "ratify-cosign", "ratify-cosign-2"
		s.c.Apply(t, v.file(t, e2eFile("kmp_config_scoped.yaml")...)+"\n---\n"+v.file(t, e2eFile("cosign_config_scoped.yaml")...))
		for _, r := range []string{"keymanagementprovider/keymanagementprovider-akv1", "keymanagementprovider/keymanagementprovider-akv2", "verifier/verifier-cosign"} {
			s.waitStatus(t, r, "true")
		}
		repo2 := acr2.Repository(t, c.net, "app")
		const acr2Name = "ratifytest2.azurecr.io"
		key2In2 := pushSigned(t, repo2, acr2Name, "app", "key2", func(ref string) { signer2.cosignSign(t, ref, "k2", key2) })
		key1In2 := pushSigned(t, repo2, acr2Name, "app", "key1", func(ref string) { signer2.cosignSign(t, ref, "k1", cosignKey) })
		key1In1 := pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "key1", func(ref string) { s.signer.cosignSign(t, ref, "ratify-cosign", cosignKey) })
		s.wantAdmitted(t, "scoped-1", key1In1)
		s.wantAdmitted(t, "scoped-2", key2In2)
		s.wantRefused(t, "scoped-3", key1In2, "no key verifies the signature")
	})

	var oldSigned, newSigned string
	var newKey crypto.Signer
	g.step("rotate the cosign key: $KEY_VER_NEW added beside $KEY_VER, both admitted", func() {
		s.c.Apply(t, v.file(t, guideFile("cosign_config.yaml")...))
		newVer, key, err := c.vault.CreateKey("ratify-cosign", keyvaultsim.KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		newKey = key
		v["KEY_VER_NEW"] = newVer
		oldSigned = pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "old-key", func(ref string) { s.signer.cosignSign(t, ref, "ratify-cosign", cosignKey) })
		newSigned = pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "new-key", func(ref string) { s.signer.cosignSign(t, ref, "ratify-cosign-new", newKey) })
		s.c.Apply(t, v.file(t, akvFile("kmp_config_rotate_add.yaml")...))
		s.waitStatus(t, "keymanagementprovider/keymanagementprovider-akv", "true")
		s.wantAdmitted(t, "rotate-old", oldSigned)
		s.wantAdmitted(t, "rotate-new", newSigned)
	})
	g.step("leaked $KEY_VER disabled in the vault and removed from the KMP: old denied, new admitted", func() {
		if err := c.vault.SetEnabled(keyvaultsim.Keys, "ratify-cosign", v["KEY_VER"], false); err != nil {
			t.Fatal(err)
		}
		s.c.Apply(t, v.file(t, akvFile("kmp_config_rotate_remove.yaml")...))
		s.waitStatus(t, "keymanagementprovider/keymanagementprovider-akv", "true")
		s.wantRefused(t, "leaked-old", oldSigned, "no key verifies the signature")
		s.wantAdmitted(t, "leaked-new", newSigned)
	})

	g.step("ratify's certificate rotated: caBundle changes, Gatekeeper keeps getting answers", func() {
		s.c.Kubectl(t, "-n", ratifyNS, "delete", "secret", release+"-tls")
		next := s.waitCABundle(t, ca)
		if next == ca {
			t.Fatal("the caBundle did not change")
		}
		s.wantAdmitted(t, "after-rotation", pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "after-rotation", func(ref string) {
			s.signer.cosignSign(t, ref, "ratify-cosign-new", newKey)
		}))
	})
}

// pushSigned pushes a new image with tag to repository name of repo (at
// host, a simulated ACR), signs its digest with sign (nil: unsigned) and
// returns the reference by tag, as a user writes it in kubectl run.
func pushSigned(t testing.TB, repo oras.Target, host, name, tag string, sign func(ref string)) string {
	t.Helper()
	d := regtest.PushImage(t, repo, tag)
	if sign != nil {
		sign(host + "/" + name + "@" + d.Digest.String())
	}
	return host + "/" + name + ":" + tag
}

// guideImages are the guide's images: net-monitor signed with notation
// (the vault's certificate) and, under another tag, with cosign (the
// vault's key); net-watcher unsigned. References are by tag.
type guideImages struct {
	notation, cosign, unsigned string
	key                        crypto.Signer
}

// pushGuideImages creates the guide's certificate and key in the vault
// (setting their variables in v), pushes the images and signs them.
func pushGuideImages(t testing.TB, s *stack, v vars) guideImages {
	t.Helper()
	c := s.cloud
	cert, err := c.vault.CreateCertificate("ratify-notation", keyvaultsim.CertificateOptions{ContentType: keyvaultsim.ContentTypePEM})
	if err != nil {
		t.Fatal(err)
	}
	keyVer, key, err := c.vault.CreateKey("ratify-cosign", keyvaultsim.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v["CERT_NAME"], v["CERT_KEY_ID"], v["SUBJECT_DN"] = "ratify-notation", cert.Version, cert.Subject()
	v["KEY_NAME"], v["KEY_VER"] = "ratify-cosign", keyVer
	monitor := c.acr.Repository(t, c.net, "ratify-demo/net-monitor")
	watcher := c.acr.Repository(t, c.net, "ratify-demo/net-watcher")
	return guideImages{
		notation: pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "v1", func(ref string) { s.signer.notationSign(t, ref, "ratify-notation", cert.PKI) }),
		cosign:   pushSigned(t, monitor, acrName, "ratify-demo/net-monitor", "v1-cosign", func(ref string) { s.signer.cosignSign(t, ref, "ratify-cosign", key) }),
		unsigned: pushSigned(t, watcher, acrName, "ratify-demo/net-watcher", "v1", nil),
		key:      key,
	}
}

// applyGuideResources is the guide's `kubectl apply` of its Store, its
// KeyManagementProvider (certificate and key combined) and its Verifiers.
func applyGuideResources(t testing.TB, s *stack, v vars) {
	t.Helper()
	s.c.Apply(t, strings.Join([]string{
		v.file(t, guideFile("store_config.yaml")...), v.file(t, e2eFile("kmp_config.yaml")...),
		v.file(t, guideFile("notation_config.yaml")...), v.file(t, guideFile("cosign_config.yaml")...),
	}, "\n---\n"))
}

// waitGuideResources waits for the guide's `kubectl get`: ISSUCCESS true
// for each of its resources.
func waitGuideResources(t testing.TB, s *stack) {
	t.Helper()
	for _, r := range []string{"store/store-oras", "keymanagementprovider/keymanagementprovider-akv", "verifier/verifier-notation", "verifier/verifier-cosign"} {
		s.waitStatus(t, r, "true")
	}
	t.Logf("kubectl get store,keymanagementprovider,verifier:\n%s", s.c.Kubectl(t, "get", "store,keymanagementprovider,verifier"))
}
