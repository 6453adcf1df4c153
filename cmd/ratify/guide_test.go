package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// built is the ratify binary of this package's tests, built once.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the binary the tests built. The processes the tests
// start have the variables the Azure workload identity webhook injects
// into ratify's pod, which the guide's Store (azureWorkloadIdentity) needs
// to load; its registries are not ACR, so they get no credentials.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"AZURE_TENANT_ID":            "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
		"AZURE_AUTHORITY_HOST":       "https://login.microsoftonline.com/",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v)
		}
	}
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildRatify returns the ratify binary, built on first use: the tests that
// run it as a process share one build.
func buildRatify(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "ratify-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "ratify")
		if out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// guideResources reads the guide's YAML files from testdata/guide and fills
// in the variables the guide sets in its shell.
func guideResources(t *testing.T, vars map[string]string, files ...string) string {
	t.Helper()
	var docs []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "guide", f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, os.Expand(string(b), func(k string) string {
			v, ok := vars[k]
			if !ok {
				t.Fatalf("%s uses ${%s}, which the test does not set", f, k)
			}
			return v
		}))
	}
	path := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGuideWithRealCLIs follows "Ratify on Azure" against a local HTTPS
// distribution registry: images signed by the real notation and cosign
// CLIs, ratify configured by the guide's YAML (inline KMPs in place of Key
// Vault), verified by the ratify binary.
func TestGuideWithRealCLIs(t *testing.T) {
	notation := tools.Path(t, "notation")
	cosign := tools.Path(t, "cosign")
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{TLS: true})
	ratify := buildRatify(t)
	trust := []string{"SSL_CERT_FILE=" + reg.TLS.CAFile}

	repo := reg.Repo(t, "ratify-demo/net-monitor")
	ref := func(name string) string {
		return reg.Host + "/ratify-demo/net-monitor@" + regtest.PushImage(t, repo, name).Digest.String()
	}
	notationSigned, cosignSigned, unsigned := ref("notation"), ref("cosign"), ref("unsigned")

	home := t.TempDir()
	sh(t, home, trust, notation, "cert", "generate-test", "--default", "ratify-test")
	sh(t, home, trust, notation, "sign", notationSigned)
	pw := append(trust, "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(home, ".sigstore"))
	sh(t, home, pw, cosign, "generate-key-pair")
	sh(t, home, pw, cosign, "sign", "--key", "cosign.key", "--tlog-upload=false", "--yes", cosignSigned)

	crtPEM, err := os.ReadFile(filepath.Join(home, ".config", "notation", "localkeys", "ratify-test.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crtPEM)
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	vars := map[string]string{
		"IDENTITY_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
		"CERT_PEM":           quoted(string(crtPEM)),
		"KEY_PEM":            quoted(string(keyPEM)),
		"SUBJECT_DN":         crt.Subject.String(),
	}
	notationCfg := guideResources(t, vars, "store_config.yaml", "kmp_config_notation.yaml", "notation_config.yaml")
	cosignCfg := guideResources(t, vars, "store_config.yaml", "kmp_config_cosign.yaml", "cosign_config.yaml")

	verify := func(cfg, image string) (int, string) {
		cmd := exec.Command(ratify, "verify", "-s", image, "-c", cfg)
		cmd.Env = append(os.Environ(), trust...)
		return exitCode(t, cmd)
	}
	for _, c := range []struct {
		name, cfg, image string
		code             int
		want             []string
	}{
		{"notation-signed", notationCfg, notationSigned, 0, []string{"ALLOWED", "notation: ok", "signer=" + crt.Subject.String(), "indent `certs:` under `verificationCertStores:`"}},
		{"unsigned, notation config", notationCfg, unsigned, 1, []string{"DENIED", "no signatures"}},
		{"cosign-signed", cosignCfg, cosignSigned, 0, []string{"ALLOWED", "cosign: ok"}},
		{"unsigned, cosign config", cosignCfg, unsigned, 1, []string{"DENIED", "no signatures"}},
		{"cosign-signed, notation config", notationCfg, cosignSigned, 1, []string{"DENIED", "no signatures"}},
	} {
		code, out := verify(c.cfg, c.image)
		t.Logf("%s:\n%s", c.name, out)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.code, out)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q\n%s", c.name, w, out)
			}
		}
	}
}
