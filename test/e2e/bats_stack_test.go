package e2e_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// Ratify's resource kinds as kubectl names them in full: short names such
// as "policy" could mean another API group's resource.
const (
	rStore    = "stores.config.ratify.deislabs.io"
	rVerifier = "verifiers.config.ratify.deislabs.io"
	rNsVerif  = "namespacedverifiers.config.ratify.deislabs.io"
	rKMP      = "keymanagementproviders.config.ratify.deislabs.io"
	rNsKMP    = "namespacedkeymanagementproviders.config.ratify.deislabs.io"
	rPolicy   = "policies.config.ratify.deislabs.io"
	rNsPolicy = "namespacedpolicies.config.ratify.deislabs.io"
	rCertSt   = "certificatestores.config.ratify.deislabs.io"
	rProvider = "providers.externaldata.gatekeeper.sh"
)

// The chart's inline key management providers for notationCerts[0] and
// cosignKeys[0], named as in Ratify's chart.
const (
	notationKMP = release + "-notation-inline-cert-0"
	cosignKMP   = release + "-cosign-inline-key-0"
)

// Registry credentials of the bats registry; ratify gets them from the
// Secret named by the chart's registryCredsSecret.
const (
	regUser     = "bats"
	regPassword = "bats-password"
	regSecret   = "ratify-registry-creds"
)

// bats is the setting of Ratify's bats suite: a plain HTTP distribution
// registry (oras.useHttp=true) with notation- and cosign-signed images made
// by the real CLIs, and the chart installed with the notation test
// certificate and the cosign public key inline.
type bats struct {
	s   *stack
	reg *regtest.Registry
	cli *cliSigner
	// certPEM is the notation test certificate ratify-bats-test (the
	// chart's notationCerts[0]); altPEM the one of alternate-cert, which
	// ratify does not trust until a scenario says so; cosignPub the cosign
	// public key (cosignKeys[0]).
	certPEM, altPEM, cosignPub string
	// leaf is a CA and a code-signing leaf it issued, the notation
	// signing key leaf-test (Ratify's leaf-test/root.crt and leaf.crt).
	leaf   *sample.PKI
	images int
}

func bFile(name string) []string { return []string{"test", "e2e", "testdata", "bats", name} }

// newBats starts the registry and makes the signing material with the
// CLIs, as Ratify's e2e setup does (notation cert generate-test,
// cosign generate-key-pair).
func newBats(t *testing.T) *bats {
	t.Helper()
	b := &bats{reg: regtest.StartDistribution(t, regtest.DistributionOptions{Username: regUser, Password: regPassword})}
	b.cli = newCLISigner(t, regUser, regPassword)
	b.cli.run(t, b.cli.notation, "cert", "generate-test", "--default", "ratify-bats-test")
	b.cli.run(t, b.cli.notation, "cert", "generate-test", "alternate-cert")
	b.cli.run(t, b.cli.cosign, "generate-key-pair")
	b.certPEM = b.cli.read(t, ".config", "notation", "localkeys", "ratify-bats-test.crt")
	b.altPEM = b.cli.read(t, ".config", "notation", "localkeys", "alternate-cert.crt")
	b.cosignPub = b.cli.read(t, "cosign.pub")
	pki, err := sample.NewPKI(sample.Options{CommonName: "leaf-test"})
	if err != nil {
		t.Fatal(err)
	}
	b.leaf = pki
	b.cli.addKey(t, "leaf-test", pki)
	return b
}

// image pushes a new image (fresh content, so a new digest no cache has
// seen) to repository repo as tag-<n>, signs its digest with sign (nil:
// unsigned) and returns the reference by tag, as kubectl run names it.
func (b *bats) image(t testing.TB, repo, tag string, sign func(ref string)) string {
	t.Helper()
	b.images++
	tag = fmt.Sprintf("%s-%d", tag, b.images)
	d := regtest.PushImage(t, regtest.Repo(t, b.reg.Host, repo, regUser, regPassword), tag)
	if sign != nil {
		sign(b.reg.Host + "/" + repo + "@" + d.Digest.String())
	}
	return b.reg.Host + "/" + repo + ":" + tag
}

// digest is the digest the registry has for ref (host/repo:tag).
func (b *bats) digest(t testing.TB, ref string) string {
	t.Helper()
	name, tag, _ := strings.Cut(strings.TrimPrefix(ref, b.reg.Host+"/"), ":")
	d, err := regtest.Repo(t, b.reg.Host, name, regUser, regPassword).Resolve(t.Context(), tag)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}

// The images of Ratify's bats suite: notation:signed, notation:unsigned,
// notation:signed-alternate, cosign:signed-key, cosign:unsigned.
func (b *bats) notationSigned(t testing.TB) string {
	return b.image(t, "notation", "signed", func(ref string) { b.cli.notationSign(t, ref, "ratify-bats-test") })
}

func (b *bats) alternateSigned(t testing.TB) string {
	return b.image(t, "notation", "signed-alternate", func(ref string) { b.cli.notationSign(t, ref, "alternate-cert") })
}

func (b *bats) leafSigned(t testing.TB) string {
	return b.image(t, "notation", "leafSigned", func(ref string) { b.cli.notationSign(t, ref, "leaf-test") })
}

func (b *bats) notationUnsigned(t testing.TB) string { return b.image(t, "notation", "unsigned", nil) }

func (b *bats) cosignSigned(t testing.TB) string {
	return b.image(t, "cosign", "signed-key", func(ref string) { b.cli.cosignSign(t, ref) })
}

func (b *bats) cosignUnsigned(t testing.TB) string { return b.image(t, "cosign", "unsigned", nil) }

// cliSigner runs the real notation and cosign CLIs in a home of their own
// against the plain HTTP registry.
type cliSigner struct {
	notation, cosign, home string
	env                    []string
	user, password         string
}

func newCLISigner(t testing.TB, user, password string) *cliSigner {
	t.Helper()
	home := t.TempDir()
	return &cliSigner{
		notation: tools.Path(t, "notation"), cosign: tools.Path(t, "cosign"), home: home,
		env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "COSIGN_PASSWORD=",
			"TUF_ROOT=" + filepath.Join(home, ".sigstore"), "PATH=" + os.Getenv("PATH")},
		user: user, password: password,
	}
}

func (c *cliSigner) run(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = c.home, c.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

func (c *cliSigner) read(t testing.TB, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{c.home}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// notationSign is `notation sign --insecure-registry --key key ref`.
func (c *cliSigner) notationSign(t testing.TB, ref, key string) {
	t.Helper()
	c.run(t, c.notation, "sign", "--insecure-registry", "--key", key, "--username", c.user, "--password", c.password, ref)
}

// addKey adds pki's leaf key and chain (leaf, then CA) to notation's
// signing keys as name, beside those of `notation cert generate-test`.
func (c *cliSigner) addKey(t testing.TB, name string, pki *sample.PKI) {
	t.Helper()
	dir := filepath.Join(c.home, ".config", "notation")
	keyPEM, err := sample.PrivateKeyPEM(pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, "localkeys", name+".key"), filepath.Join(dir, "localkeys", name+".crt")
	writeFile(t, keyPath, keyPEM)
	writeFile(t, certPath, sample.CertPEM(pki.Leaf)+pki.CAPEM())
	var keys map[string]any
	if err := json.Unmarshal([]byte(c.read(t, ".config", "notation", "signingkeys.json")), &keys); err != nil {
		t.Fatal(err)
	}
	list, _ := keys["keys"].([]any)
	keys["keys"] = append(list, map[string]string{"name": name, "keyPath": keyPath, "certPath": certPath})
	b, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "signingkeys.json"), string(b))
}

// cosignSign is `cosign sign --key cosign.key ref` without the
// transparency log, over HTTP.
func (c *cliSigner) cosignSign(t testing.TB, ref string) {
	t.Helper()
	c.run(t, c.cosign, "sign", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-http-registry", "--allow-insecure-registry",
		"--registry-username", c.user, "--registry-password", c.password, ref)
}

// copyAs is resource (kind/name) as a document of kind in namespace ns
// ("" for cluster-wide), without what the API server and helm added, so
// that it can be applied as a new object: the bats suite's
// `kubectl get -o yaml | sed s/KeyManagementProvider/NamespacedKeyManagementProvider/`.
func (s *stack) copyAs(t testing.TB, resource, kind, ns string) string {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal([]byte(s.c.Kubectl(t, "get", resource, "-o", "json")), &o); err != nil {
		t.Fatal(err)
	}
	md, _ := o["metadata"].(map[string]any)
	meta := map[string]any{"name": md["name"]}
	if ns != "" {
		meta["namespace"] = ns
	}
	o["metadata"], o["kind"] = meta, kind
	delete(o, "status")
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pemDoc is a PEM value quoted for YAML (a JSON string is a YAML string).
func pemDoc(s string) string { b, _ := json.Marshal(s); return string(b) }

// servingCert is a new CA and, from it, a certificate for ratify's
// Service names, as PEM: what an operator rotating ratify's certificate by
// hand brings (Ratify's e2e makes them with openssl).
type servingCert struct {
	ca, cert, key []byte
	caCert        *x509.Certificate
}

func newServingCert(t testing.TB) servingCert {
	t.Helper()
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "ratify rotated CA"})
	if err != nil {
		t.Fatal(err)
	}
	svc := release + "." + ratifyNS
	tmpl := sample.ServerTemplate(svc, release, svc+".svc", svc+".svc.cluster.local")
	leaf, err := ca.Issue(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := sample.PairPEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	return servingCert{ca: ca.PEM(), cert: cert, key: key, caCert: ca.Cert}
}

// servedBy reports whether ratify's port serves a certificate for its
// Service name issued by ca. The handshake itself may fail after that:
// ratify asks for Gatekeeper's client certificate, which this probe has not.
func servedBy(ca *x509.Certificate) string {
	var leaf *x509.Certificate
	conn, err := tls.Dial("tcp", "127.0.0.1:6001", &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified below, against ca only
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				leaf, _ = x509.ParseCertificate(raw[0])
			}
			return nil
		},
	})
	if err == nil {
		conn.Close()
	}
	if leaf == nil {
		return fmt.Sprintf("no certificate served (%v)", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: release + "." + ratifyNS}); err != nil {
		return "ratify serves " + leaf.Subject.String() + " from " + leaf.Issuer.String() + ": " + err.Error()
	}
	return ""
}

// tempFile writes content to a new file name in a temporary directory,
// for kubectl -f: not the test's own, whose path has the scenario's name,
// commas included, and kubectl -f splits at commas.
func tempFile(t testing.TB, name, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ratify-bats-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, name)
	writeFile(t, p, content)
	return p
}
