package e2e_test

import (
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// signer signs images in the simulated ACR with the real notation and
// cosign CLIs, as the guide's user does from a workstation: through the
// simulators' proxy (the registry under its public name), logged in with
// an ACR refresh token of an identity with AcrPush. The guide signs with
// the Key Vault plugins; here the CLIs sign with local copies of the
// vault's keys (the simulated vault hands them out), so what ratify
// verifies against is the vault's certificate and key, as in the guide.
type signer struct {
	notation, cosign string
	home             string
	env              []string
	user, password   string
}

func newSigner(t testing.TB, n *azuresim.Net, acr *azuresim.ACR) *signer {
	t.Helper()
	rt, err := acr.RefreshToken("image-publisher", azuresim.RoleAcrPush, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	return &signer{
		notation: tools.Path(t, "notation"), cosign: tools.Path(t, "cosign"), home: home,
		env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "HTTPS_PROXY=" + n.Proxy(t),
			"SSL_CERT_FILE=" + n.CAFile, "COSIGN_PASSWORD=", "TUF_ROOT=" + filepath.Join(home, ".sigstore"), "PATH=" + os.Getenv("PATH")},
		user: azuresim.RefreshUsername, password: rt,
	}
}

func (s *signer) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = s.home, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// notationSign signs ref (by digest) with pki's leaf key and chain, as the
// notation signing key keyName.
func (s *signer) notationSign(t testing.TB, ref, keyName string, pki *sample.PKI) {
	t.Helper()
	dir := filepath.Join(s.home, ".config", "notation", "localkeys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := sample.PrivateKeyPEM(pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, keyName+".key"), filepath.Join(dir, keyName+".crt")
	writeFile(t, keyPath, keyPEM)
	writeFile(t, certPath, sample.CertPEM(pki.Leaf)+pki.CAPEM())
	keys := map[string]any{"default": keyName, "keys": []map[string]string{{"name": keyName, "keyPath": keyPath, "certPath": certPath}}}
	b, _ := json.Marshal(keys)
	writeFile(t, filepath.Join(s.home, ".config", "notation", "signingkeys.json"), string(b))
	s.run(t, s.notation, "sign", "--key", keyName, "--username", s.user, "--password", s.password, ref)
}

// cosignSign signs ref with key, imported into cosign's key format.
func (s *signer) cosignSign(t testing.TB, ref, keyName string, key crypto.Signer) {
	t.Helper()
	keyPEM, err := sample.PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(s.home, keyName+".pem")
	writeFile(t, pemPath, keyPEM)
	prefix := filepath.Join(s.home, keyName)
	s.run(t, s.cosign, "import-key-pair", "--key", pemPath, "--output-key-prefix", prefix, "--yes")
	s.run(t, s.cosign, "sign", "--key", prefix+".key", "--tlog-upload=false", "--yes",
		"--registry-username", s.user, "--registry-password", s.password, ref)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(fmt.Errorf("writing %s: %w", filepath.Base(path), err))
	}
}
