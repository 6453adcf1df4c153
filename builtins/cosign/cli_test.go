package cosign

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// cosignCLI runs the real cosign binary in dir, offline: HOME and TUF_ROOT
// are the test's, keys have an empty password.
func cosignCLI(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.Path(t, "cosign"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"), "COSIGN_PASSWORD=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Signatures made by `cosign sign --key ... --tlog-upload=false`, the flow
// of Ratify's key-based guide, against the distribution registry.
func TestVerifyCosignCLI(t *testing.T) {
	t.Parallel()
	tools.Path(t, "cosign") // skip early when the tool is missing
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})

	t.Run("generate-key-pair", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cosignCLI(t, dir, nil, "generate-key-pair")
		img := pushImage(t, reg, "cli/generated")
		cosignCLI(t, dir, nil, "sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-insecure-registry", "--yes", img.ref.String())
		pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
		if err != nil {
			t.Fatal(err)
		}
		keys := []any{map[string]any{"provider": "inline", "name": "cosign", "enabled": true, "pem": string(pub)}}
		r := verify(t, img.ref, map[string]any{"keys": keys})
		wantSuccess(t, r, 1)
		if r.Signatures[0].Signer != "inline/cosign" || r.Signatures[0].Details["keyAlgorithm"] != "ECDSA-P256" {
			t.Errorf("signature = %+v", r.Signatures[0])
		}
		// Another image's key does not verify it; the CLI's signature for
		// this image does not verify another image.
		wantFailure(t, verify(t, img.ref, map[string]any{"keys": keysOpt(newKey(t, "ECDSA-P256", 0))}), "no key verifies the signature")
		wantFailure(t, verify(t, img.ref, map[string]any{"keys": keys, "tlog": true}), "transparency log")
	})

	// Keys of every algorithm, imported into cosign: `cosign sign` picks the
	// hash (or Ed25519ph) from the key, and cosign.verify must follow.
	for _, alg := range algorithms {
		t.Run("import-key-pair/"+alg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key := newKey(t, alg, 0)
			priv, err := sample.PrivateKeyPEM(key.priv)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "imported.pem"), []byte(priv), 0o600); err != nil {
				t.Fatal(err)
			}
			cosignCLI(t, dir, nil, "import-key-pair", "--key", "imported.pem", "--output-key-prefix", "imported")
			img := pushImage(t, reg, "cli/"+strings.ToLower(alg))
			cosignCLI(t, dir, nil, "sign", "--key", "imported.key", "--tlog-upload=false", "--allow-insecure-registry", "--yes", img.ref.String())
			r := verify(t, img.ref, map[string]any{"keys": keysOpt(key)})
			wantSuccess(t, r, 1)
			want := map[string]string{"ECDSA-P384": "SHA384", "ECDSA-P521": "SHA512", "Ed25519": "Ed25519ph"}[alg]
			if want == "" {
				want = "SHA256"
			}
			if d := r.Signatures[0].Details; d["keyAlgorithm"] != alg || d["signatureScheme"] != want {
				t.Errorf("details = %v, want scheme %s", d, want)
			}
		})
	}
}

// `cosign sign --registry-referrers-mode=oci-1-1` pushes the signature as an
// OCI 1.1 referrer instead of the .sig tag.
func TestVerifyCosignCLIReferrer(t *testing.T) {
	t.Parallel()
	tools.Path(t, "cosign")
	reg := regtest.StartOCI11(t, 0)
	dir := t.TempDir()
	cosignCLI(t, dir, nil, "generate-key-pair")
	img := pushImage(t, reg, "cli/referrer")
	cosignCLI(t, dir, []string{"COSIGN_EXPERIMENTAL=1"}, "sign", "--key", "cosign.key", "--tlog-upload=false",
		"--allow-insecure-registry", "--yes", "--registry-referrers-mode=oci-1-1", img.ref.String())
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	r := verify(t, img.ref, map[string]any{"keys": []any{string(pub)}})
	wantSuccess(t, r, 1)

	// Found through the referrers API alone: a store that does not look at
	// the .sig tag sees it too.
	s, err := oras.New(context.Background(), []oras.Config{{Type: oras.TypeRemote, PlainHTTP: true}}, oras.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantSuccess(t, Verify(context.Background(), s, img.ref, map[string]any{"keys": []any{string(pub)}}), 1)
}
