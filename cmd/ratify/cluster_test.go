package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// clusterFixture is what the cluster tests share: one TLS distribution
// registry whose images were all signed, by the real notation and cosign
// CLIs, before any ratify starts (so no referrer cache can hide a
// signature), the built binary, and the guide's variables.
type clusterFixture struct {
	ratify string
	// env is what a ratify process needs: the registry's CA, and the
	// environment of the guide's Store's auth provider.
	env  []string
	vars map[string]string
	// Public keys of the cosign key pairs "cosign" (the guide's), "rotated"
	// (its replacement) and "team-a" (a tenant's); the attacker's
	// certificate (same subject as the guide's, another CA).
	keyPEM, rotatedKeyPEM, teamAKeyPEM, attackerCertPEM string
	// Images by digest, each signed by what its name says.
	notationSigned, cosignSigned, rotatedSigned, teamASigned, attackerSigned, unsigned string
}

func newClusterFixture(t *testing.T) *clusterFixture {
	t.Helper()
	notation := tools.Path(t, "notation")
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{TLS: true})
	f := &clusterFixture{ratify: buildRatify(t), env: []string{"SSL_CERT_FILE=" + reg.TLS.CAFile}}
	repo := reg.Repo(t, "ratify-demo/net-monitor")
	image := func(tag string) string {
		return reg.Host + "/ratify-demo/net-monitor@" + regtest.PushImage(t, repo, tag).Digest.String()
	}
	f.notationSigned, f.cosignSigned, f.rotatedSigned = image("notation"), image("cosign"), image("rotated")
	f.teamASigned, f.attackerSigned, f.unsigned = image("team-a"), image("attacker"), image("unsigned")

	home := t.TempDir()
	sh(t, home, f.env, notation, "cert", "generate-test", "--default", "ratify-test")
	sh(t, home, f.env, notation, "sign", f.notationSigned)
	cosign := newCosignCLI(t, reg, home)
	for key, img := range map[string]string{"cosign": f.cosignSigned, "rotated": f.rotatedSigned, "team-a": f.teamASigned} {
		cosign.generate(key)
		cosign.sign(key, img)
	}
	f.keyPEM, f.rotatedKeyPEM, f.teamAKeyPEM = cosign.publicKey("cosign"), cosign.publicKey("rotated"), cosign.publicKey("team-a")
	// The attacker's test certificate has the guide's subject (notation
	// names it after the key), from a CA of its own.
	attacker := t.TempDir()
	sh(t, attacker, f.env, notation, "cert", "generate-test", "--default", "ratify-test")
	sh(t, attacker, f.env, notation, "sign", f.attackerSigned)
	f.attackerCertPEM = readFile(t, filepath.Join(attacker, ".config", "notation", "localkeys", "ratify-test.crt"))

	crtPEM := readFile(t, filepath.Join(home, ".config", "notation", "localkeys", "ratify-test.crt"))
	subject := subjectOf(t, crtPEM)
	if got := subjectOf(t, f.attackerCertPEM); got != subject {
		t.Fatalf("the attacker's certificate is for %q, not the guide's %q", got, subject)
	}
	const clientID = "00000000-0000-0000-0000-000000000000"
	// The guide's Store authenticates with Azure workload identity, which
	// reads what the webhook puts in the pod's environment; it gives
	// credentials to ACR hosts only, so nothing asks the authority here.
	f.env = append(f.env, "AZURE_CLIENT_ID="+clientID, "AZURE_TENANT_ID="+clientID,
		"AZURE_FEDERATED_TOKEN_FILE="+writeFile(t, filepath.Join(home, "azure-identity-token"), "unused"),
		"AZURE_AUTHORITY_HOST=https://login.example/")
	f.vars = map[string]string{
		"IDENTITY_CLIENT_ID": clientID,
		"CERT_PEM":           quoteJSON(crtPEM),
		"KEY_PEM":            quoteJSON(f.keyPEM),
		"SUBJECT_DN":         subject,
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// subjectOf is the subject of the first certificate in certPEM.
func subjectOf(t *testing.T, certPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("no PEM block in %q", certPEM)
	}
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crt.Subject.String()
}

func quoteJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

// guide is the guide's Store, KMPs and Verifiers. The guide names both
// inline KMPs keymanagementprovider-akv (one file for notation, one for
// cosign); in one cluster they are notation-certs and cosign-key.
func (f *clusterFixture) guide(t *testing.T) string {
	t.Helper()
	docs := func(kmp string, files ...string) string {
		return strings.ReplaceAll(readFile(t, guideResources(t, f.vars, files...)), "keymanagementprovider-akv", kmp)
	}
	return strings.Join([]string{
		docs("", "store_config.yaml"),
		docs("notation-certs", "kmp_config_notation.yaml", "notation_config.yaml"),
		docs("cosign-key", "kmp_config_cosign.yaml", "cosign_config.yaml"),
	}, "---\n")
}

// cosignKMP is the guide's cosign KMP (named cosign-key) holding keyPEM.
func (f *clusterFixture) cosignKMP(t *testing.T, keyPEM string) string {
	t.Helper()
	vars := map[string]string{"KEY_PEM": quoteJSON(keyPEM)}
	return strings.ReplaceAll(readFile(t, guideResources(t, vars, "kmp_config_cosign.yaml")), "keymanagementprovider-akv", "cosign-key")
}

// serve starts `ratify serve --kubeconfig` on c, with ratify's own
// namespace ns (where the Lease is).
func (f *clusterFixture) serve(t *testing.T, c *cluster.Cluster, bin, ns string, args ...string) *served {
	t.Helper()
	return serveProcess(t, bin, t.TempDir(), f.env, append([]string{"--kubeconfig", c.Kubeconfig, "--namespace", ns}, args...)...)
}

// expect checks one decision and says what is wrong with it ("" if
// nothing): allow, or deny with every one of reasons.
func expect(it itemValue, allow bool, reasons ...string) string {
	if allowed(it) != allow {
		return fmt.Sprintf("allowed=%v, want %v: %s", allowed(it), allow, it)
	}
	for _, r := range reasons {
		if !strings.Contains(it.String(), r) {
			return fmt.Sprintf("no %q in %s", r, it)
		}
	}
	return ""
}

// TestCluster runs the built binary's `ratify serve --kubeconfig` against
// a real API server (etcd and kube-apiserver) and a real registry, and
// changes its configuration with the real kubectl as an operator and as
// tenants would. The steps share one control plane and one ratify and run
// in order, each starting from the configuration the previous ones left
// (a step that fails stops the ones after it); the two replicas of the
// last step have a control plane of their own, so that no other process
// writes status there.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, a registry and ratify")
	}
	f := newClusterFixture(t)
	c := cluster.Start(t)
	for _, ns := range []string{"ratify-system", "team-a", "team-b", "tenant-x"} {
		c.Kubectl(t, "create", "namespace", ns)
	}
	c.Apply(t, f.guide(t))
	began := time.Now()
	srv := f.serve(t, c, f.ratify, "ratify-system", "--multi-tenancy")
	t.Logf("ratify serve --kubeconfig ready in %s", time.Since(began).Round(time.Millisecond))

	s := &clusterSteps{clusterFixture: f, c: c, srv: srv}
	for _, step := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"guide resources in force", s.guide},
		{"KMP without contentType", s.kmpWithoutContentType},
		{"Policy not named ratify-policy", s.misnamedPolicy},
		{"cosign key rotated", s.keyRotated},
		{"cosign Verifier deleted", s.verifierDeleted},
		{"namespaced KMP invisible to other namespaces", s.tenantKMP},
		{"tenant CertificateStore does not change the cluster's trust", s.tenantCertificateStore},
	} {
		if !t.Run(step.name, step.run) {
			t.Logf("ratify's log:\n%s", srv.logs)
			return
		}
	}
	t.Run("two replicas, one Lease", f.replicas)
}

// clusterSteps are TestCluster's steps: one control plane, one ratify.
type clusterSteps struct {
	*clusterFixture
	c   *cluster.Cluster
	srv *served
}

// The guide's resources, applied with kubectl: each says ISSUCCESS true,
// and ratify decides with them.
func (s *clusterSteps) guide(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	want := []string{"store/store-oras", "keymanagementprovider/notation-certs", "keymanagementprovider/cosign-key",
		"verifier/verifier-notation", "verifier/verifier-cosign"}
	took := wait.For(t, 30*time.Second, "ISSUCCESS true for each", func() string {
		out := c.Kubectl(t, "get", "stores,keymanagementproviders,verifiers")
		rows := cluster.IsSuccessColumn(out)
		for _, name := range want {
			if rows[name] != "true" {
				return out
			}
		}
		if len(rows) != len(want) {
			return out
		}
		return ""
	})
	t.Logf("status true for the guide's %d resources %s after ready", len(want), took.Round(time.Millisecond))
	props := c.Kubectl(t, "get", "keymanagementprovider", "cosign-key", "-o", "jsonpath={.status.lastfetchedtime} {.status.properties}")
	if !strings.Contains(props, `"Keys"`) || strings.Contains(props, "PUBLIC KEY") {
		t.Errorf("cosign-key: lastfetchedtime and properties %q: want the key listed, never its material", props)
	}
	for _, tc := range []struct {
		image   string
		allow   bool
		reasons []string
	}{
		{f.notationSigned, true, []string{`"verifier":"notation"`}},
		{f.cosignSigned, true, []string{`"verifier":"cosign"`}},
		{f.unsigned, false, []string{"no signatures"}},
	} {
		if msg := expect(srv.verify(t, tc.image), tc.allow, tc.reasons...); msg != "" {
			t.Errorf("%s: %s", tc.image, msg)
		}
	}
}

// An inline KMP without contentType is refused, and its status says why.
func (s *clusterSteps) kmpWithoutContentType(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	c.Apply(t, kmpNoContentType("no-content-type", f.keyPEM))
	wait.For(t, 30*time.Second, "status false with the reason", func() string {
		if st := c.Status(t, "keymanagementprovider", "", "no-content-type"); !strings.HasPrefix(st, "false|") || !strings.Contains(st, "contentType is required") {
			return st
		}
		return ""
	})
	row := c.Kubectl(t, "get", "keymanagementprovider", "no-content-type", "--no-headers")
	if !strings.Contains(row, "false") || !strings.Contains(row, "contentType is required") {
		t.Errorf("kubectl get: %q: want ISSUCCESS false and the reason in ERROR", row)
	}
	if msg := expect(srv.verify(t, f.cosignSigned), true); msg != "" {
		t.Errorf("a refused KMP changed what the others admit: %s", msg)
	}
}

// A Policy not named ratify-policy, however permissive, is not in force:
// its status says so and the compiled default still decides.
func (s *clusterSteps) misnamedPolicy(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	c.Apply(t, `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: allow-everything}
spec:
  type: rego
  parameters:
    policy: |
      package ratify.policy
      import rego.v1
      default allow := true
`)
	wait.For(t, 30*time.Second, "status error naming ratify-policy", func() string {
		if st := c.Status(t, "policy", "", "allow-everything"); !strings.HasPrefix(st, "false|") || !strings.Contains(st, "must be named ratify-policy") {
			return st
		}
		return ""
	})
	if msg := expect(srv.verify(t, f.unsigned), false, "no signatures"); msg != "" {
		t.Errorf("unsigned: %s", msg)
	}
	if msg := expect(srv.verify(t, f.notationSigned), true); msg != "" {
		t.Errorf("notation-signed: %s", msg)
	}
}

// The cosign KMP gets a new key: the old key's image is denied on the
// next requests, the new key's allowed.
func (s *clusterSteps) keyRotated(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	if msg := expect(srv.verify(t, f.rotatedSigned), false); msg != "" {
		t.Fatalf("signed with the new key before the rotation: %s", msg)
	}
	c.Apply(t, f.cosignKMP(t, f.rotatedKeyPEM))
	took := wait.For(t, 10*time.Second, "the old key's image denied", func() string {
		return expect(srv.verify(t, f.cosignSigned), false, "cosign")
	})
	t.Logf("old key's image denied %s after kubectl apply returned", took.Round(time.Millisecond))
	if msg := expect(srv.verify(t, f.rotatedSigned), true); msg != "" {
		t.Errorf("signed with the new key: %s", msg)
	}
	wait.For(t, 30*time.Second, "cosign-key status", func() string {
		if st := c.Status(t, "keymanagementprovider", "", "cosign-key"); st != "true|" {
			return st
		}
		return ""
	})
}

// Without the cosign Verifier, a cosign-only image has no signature
// ratify verifies.
func (s *clusterSteps) verifierDeleted(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	c.Kubectl(t, "delete", "verifier", "verifier-cosign")
	took := wait.For(t, 10*time.Second, "the cosign-signed image denied", func() string {
		return expect(srv.verify(t, f.rotatedSigned), false, "no signatures", "has no artifact of a type the verifiers handle")
	})
	t.Logf("denied %s after kubectl delete returned", took.Round(time.Millisecond))
	if msg := expect(srv.verify(t, f.notationSigned), true); msg != "" {
		t.Errorf("notation-signed: %s", msg)
	}
}

// tenantCosign is a NamespacedKMP holding keyPEM and a NamespacedVerifier
// trusting the provider ref, both in namespace ns.
func tenantCosign(ns, keyPEM, ref string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedKeyManagementProvider
metadata: {name: %[1]s-key, namespace: %[1]s}
spec: {type: inline, parameters: {contentType: key, value: %[2]s}}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: NamespacedVerifier
metadata: {name: verifier-cosign, namespace: %[1]s}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: %[3]s}]}]
`, ns, quoteJSON(keyPEM), ref)
}

// team-a's NamespacedKMP verifies team-a's images for team-a; team-b's
// NamespacedVerifier naming it gets nothing from it. (The cluster has no
// cosign Verifier any more, which every cosign signature would also have
// to pass.)
func (s *clusterSteps) tenantKMP(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	// team-b has a provider of its own, with another key: what it names is
	// team-a's.
	c.Apply(t, tenantCosign("team-a", f.teamAKeyPEM, "team-a/team-a-key")+"---\n"+tenantCosign("team-b", f.keyPEM, "team-a/team-a-key"))
	took := wait.For(t, 10*time.Second, "[team-a] allowed", func() string {
		return expect(srv.verify(t, "[team-a]"+f.teamASigned), true)
	})
	t.Logf("team-a's image allowed in team-a %s after kubectl apply returned", took.Round(time.Millisecond))
	var it itemValue
	wait.For(t, 10*time.Second, "[team-b] denied, naming team-a's provider", func() string {
		it = srv.verify(t, "[team-b]"+f.teamASigned)
		return expect(it, false, "team-a/team-a-key", "namespace team-a")
	})
	t.Logf("[team-b]: %s", it)
	if msg := expect(srv.verify(t, f.teamASigned), false); msg != "" {
		t.Errorf("cluster-wide: %s", msg)
	}
	wait.For(t, 30*time.Second, "team-a's provider status", func() string {
		if st := c.Status(t, "namespacedkeymanagementprovider", "team-a", "team-a-key"); st != "true|" {
			return st
		}
		return ""
	})
	t.Logf("team-b's NamespacedVerifier status: %s", c.Status(t, "namespacedverifier", "team-b", "verifier-cosign"))
}

// A tenant's CertificateStore named like the cluster's notation KMP,
// holding the attacker's CA (with the guide's subject), changes nothing
// the cluster trusts, nor what the tenant's namespace inherits from it.
func (s *clusterSteps) tenantCertificateStore(t *testing.T) {
	f, c, srv := s.clusterFixture, s.c, s.srv
	c.Apply(t, fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: CertificateStore
metadata: {name: notation-certs, namespace: tenant-x}
spec: {provider: inline, parameters: {value: %s}}
`, quoteJSON(f.attackerCertPEM)))
	// Its status is written once the configuration with it is in force.
	wait.For(t, 30*time.Second, "the CertificateStore observed", func() string {
		if st := c.Status(t, "certificatestore", "tenant-x", "notation-certs"); !strings.HasPrefix(st, "true|") {
			return st
		}
		return ""
	})
	for _, key := range []string{f.attackerSigned, "[tenant-x]" + f.attackerSigned} {
		it := srv.verify(t, key)
		if msg := expect(it, false, "notation"); msg != "" {
			t.Errorf("%s, signed by the attacker's CA: %s", key, msg)
		}
		if strings.Contains(it.String(), "no signatures") {
			t.Errorf("%s: denied for want of a signature, not on the attacker's: %s", key, it)
		}
		t.Logf("%s: %s", key, it)
	}
	if msg := expect(srv.verify(t, f.notationSigned), true); msg != "" {
		t.Errorf("notation-signed: %s", msg)
	}
}

// kmpNoContentType is an inline KeyManagementProvider without contentType.
func kmpNoContentType(name, keyPEM string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: %s}
spec: {type: inline, parameters: {value: %s}}
`, name, quoteJSON(keyPEM))
}

// replaceFile swaps path's content at once (as a ConfigMap volume does),
// so a reader never sees half of it.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	writeFile(t, path+".new", content)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestServeFileReload: `ratify serve -c FILE` reloads FILE when it
// changes; a version that does not load is refused in the log and the
// last good one stays in force.
func TestServeFileReload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry and ratify")
	}
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{TLS: true})
	ratify := buildRatify(t)
	home := t.TempDir()
	cosign := newCosignCLI(t, reg, home)
	repo := reg.Repo(t, "team-a/app")
	images := map[string]string{}
	for _, key := range []string{"old", "new"} {
		images[key] = reg.Host + "/team-a/app@" + regtest.PushImage(t, repo, key).Digest.String()
		cosign.generate(key)
		cosign.sign(key, images[key])
	}
	resources := func(key string) string {
		return strings.Join([]string{
			tlsStoreDoc(reg.TLS.CAFile, ""),
			keyDoc("cosign-key", cosign.publicKey(key)),
			cosignVerifierDoc(`      - {name: default, scopes: ["*"], keys: [{provider: cosign-key}]}`),
		}, "---\n")
	}
	file := writeFile(t, filepath.Join(home, "resources.yaml"), resources("old"))
	srv := serveBinary(t, ratify, home, file, "--reload-interval", "200ms")
	if msg := expect(srv.verify(t, images["old"]), true); msg != "" {
		t.Fatalf("old key, before the change: %s", msg)
	}
	if msg := expect(srv.verify(t, images["new"]), false); msg != "" {
		t.Fatalf("new key, before the change: %s", msg)
	}

	replaceFile(t, file, resources("new"))
	took := wait.For(t, 10*time.Second, "the new key in force", func() string {
		if msg := expect(srv.verify(t, images["old"]), false); msg != "" {
			return "old key: " + msg
		}
		return expect(srv.verify(t, images["new"]), true)
	})
	t.Logf("the rewritten file in force %s after it was replaced", took.Round(time.Millisecond))

	const refused = "configuration file refused; the last good one stays in force"
	before := strings.Count(srv.logs.String(), refused)
	replaceFile(t, file, "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: [KeyManagementProvider\n")
	wait.For(t, 10*time.Second, "the invalid file refused in the log", func() string {
		logs := srv.logs.String()
		if strings.Count(logs, refused) <= before || !strings.Contains(logs, file) {
			return logs
		}
		return ""
	})
	// Several reload intervals later, the last good configuration decides.
	time.Sleep(600 * time.Millisecond)
	if msg := expect(srv.verify(t, images["new"]), true); msg != "" {
		t.Errorf("new key, after the invalid file: %s", msg)
	}
	if msg := expect(srv.verify(t, images["old"]), false); msg != "" {
		t.Errorf("old key, after the invalid file: %s", msg)
	}
}
