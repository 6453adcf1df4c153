package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasgo "oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

const notationSigType = "application/vnd.cncf.notary.signature"

// runCLI runs ratify in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// sh runs a tool with a private HOME, so the real CLIs keep their keys
// and configuration inside the test's directory.
func sh(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, ".cache"), "DOCKER_CONFIG="+filepath.Join(dir, ".docker"))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// signedImage pushes an image to a distribution registry and signs it with
// the real notation and cosign CLIs. It returns the image reference by
// digest and the digests of the two signatures as the registry holds them.
func signedImage(t *testing.T) (reg *regtest.Registry, ref string, notationSig, cosignSig ocispec.Descriptor) {
	notation := tools.Path(t, "notation")
	cosign := tools.Path(t, "cosign")
	reg = regtest.StartDistribution(t, regtest.DistributionOptions{})
	repo := regtest.Repo(t, reg.Host, "ratify-demo/net-monitor", "", "")
	img := regtest.PushImage(t, repo, "v1")
	ref = reg.Host + "/ratify-demo/net-monitor@" + img.Digest.String()

	home := t.TempDir()
	sh(t, home, nil, notation, "cert", "generate-test", "--default", "ratify-test")
	sh(t, home, nil, notation, "sign", "--insecure-registry", ref)

	pw := []string{"COSIGN_PASSWORD="}
	sh(t, home, pw, cosign, "generate-key-pair")
	sh(t, home, append(pw, "TUF_ROOT="+filepath.Join(home, ".sigstore")), cosign, "sign", "--key", "cosign.key",
		"--tlog-upload=false", "--allow-insecure-registry", "--yes", ref)

	// What the registry holds, read without ratify: the referrers tag-schema
	// index notation maintained, and the tag cosign wrote.
	ctx := context.Background()
	_, index, err := orasgo.FetchBytes(ctx, repo, "sha256-"+img.Digest.Encoded(), orasgo.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatalf("notation signature index: %v", err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != notationSigType {
		t.Fatalf("notation should have left one signature: %s", index)
	}
	notationSig = idx.Manifests[0]
	cosignSig, err = repo.Resolve(ctx, oras.CosignSignatureTag(img.Digest))
	if err != nil {
		t.Fatalf("cosign signature tag: %v", err)
	}
	return reg, ref, notationSig, cosignSig
}

func checkSignatures(t *testing.T, tree *oras.Node, notationSig, cosignSig ocispec.Descriptor) {
	t.Helper()
	got := map[string]string{}
	for _, n := range tree.Referrers {
		got[n.ArtifactType] = n.Digest.String()
	}
	if got[notationSigType] != notationSig.Digest.String() || got[oras.CosignSignatureArtifactType] != cosignSig.Digest.String() || len(got) != 2 {
		t.Fatalf("discover listed %v; want notation %s and cosign %s", got, notationSig.Digest, cosignSig.Digest)
	}
}

func TestDiscoverSignaturesFromRealCLIs(t *testing.T) {
	reg, ref, notationSig, cosignSig := signedImage(t)

	code, out, errOut := runCLI(t, "discover", "-s", ref, "--plain-http", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var tree oras.Node
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	checkSignatures(t, &tree, notationSig, cosignSig)

	// Text output names both types and digests; a tag resolves too.
	code, out, _ = runCLI(t, "discover", "-s", reg.Host+"/ratify-demo/net-monitor:v1", "--plain-http")
	if code != 0 || !strings.Contains(out, notationSigType+" "+notationSig.Digest.String()) ||
		!strings.Contains(out, oras.CosignSignatureArtifactType+" "+cosignSig.Digest.String()) {
		t.Fatalf("text output (exit %d):\n%s", code, out)
	}

	// The same from a resources file with the guide's kind of Store.
	res := filepath.Join(t.TempDir(), "store.yaml")
	os.WriteFile(res, []byte(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata:
  name: store-oras
spec:
  name: oras
  parameters:
    cosignEnabled: true
    useHttp: true
`), 0o600)
	code, out, errOut = runCLI(t, "discover", "-s", ref, "-c", res, "-o", "json")
	if code != 0 {
		t.Fatalf("with -c: exit %d: %s", code, errOut)
	}
	tree = oras.Node{}
	_ = json.Unmarshal([]byte(out), &tree)
	checkSignatures(t, &tree, notationSig, cosignSig)

	// Copied into an OCI layout, the same tree is found offline.
	layoutDir := t.TempDir()
	copyToLayout(t, reg, "ratify-demo/net-monitor", "v1", layoutDir)
	code, out, errOut = runCLI(t, "discover", "-s", "v1", "--oci-layout", layoutDir, "-o", "json")
	if code != 0 {
		t.Fatalf("layout: exit %d: %s", code, errOut)
	}
	tree = oras.Node{}
	_ = json.Unmarshal([]byte(out), &tree)
	checkSignatures(t, &tree, notationSig, cosignSig)
}

// copyToLayout copies an image, its referrers and its cosign signature tag.
func copyToLayout(t *testing.T, reg *regtest.Registry, name, tag, dir string) {
	t.Helper()
	ctx := context.Background()
	src := regtest.Repo(t, reg.Host, name, "", "")
	dst, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := orasgo.ExtendedCopy(ctx, src, tag, dst, tag, orasgo.DefaultExtendedCopyOptions)
	if err != nil {
		t.Fatal(err)
	}
	sigTag := oras.CosignSignatureTag(desc.Digest)
	if _, err := orasgo.Copy(ctx, src, sigTag, dst, sigTag, orasgo.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverExitCodes(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	regtest.PushImage(t, regtest.Repo(t, reg.Host, "app", "", ""), "v1")

	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"discover", "-s", reg.Host + "/app:v1", "--plain-http"}, 0, ""},
		{[]string{"discover", "-s", reg.Host + "/app:missing", "--plain-http"}, 1, "not found"},
		{[]string{"discover", "-s", reg.Host + "/nothing/here:v1", "--plain-http"}, 1, "not found"},
		{[]string{"discover"}, 2, "required flag"},
		{[]string{"discover", "-s", "Not A Reference"}, 2, "invalid reference"},
		{[]string{"discover", "-s", reg.Host + "/app:v1"}, 2, "--plain-http"},
		{[]string{"discover", "-s", "127.0.0.1:1/app:v1", "--plain-http"}, 2, "registry unavailable"},
		{[]string{"discover", "-s", "x/y:v1", "-o", "yaml"}, 2, "want text or json"},
		{[]string{"discover", "-s", "x/y:v1", "--oci-layout", "/does/not/exist"}, 2, "no such file"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line mentioning %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}
