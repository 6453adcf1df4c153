package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// layoutResources is a resources file whose one Store serves scopes from
// the OCI layout dir.
func layoutResources(t *testing.T, dir string, scopes ...string) string {
	t.Helper()
	s, _ := json.Marshal(scopes)
	path := filepath.Join(t.TempDir(), "resources.yaml")
	doc := fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: fixtures}
spec:
  name: oci-layout
  parameters: {path: %q, scopes: %s, cosignEnabled: true}
`, dir, s)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func discoverJSON(t *testing.T, args ...string) *oras.Node {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"discover", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("discover %v: exit %d: %s", args, code, errOut)
	}
	var n oras.Node
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return &n
}

// TestFixtureCopyRealSignatures copies an image signed by the real notation
// and cosign CLIs (the registry has no referrers API, so notation used the
// tag schema), stops the registry, and finds both signatures offline under
// the image's own name and under another.
func TestFixtureCopyRealSignatures(t *testing.T) {
	reg, ref, notationSig, cosignSig := signedImage(t)
	dir := filepath.Join(t.TempDir(), "fixtures")
	tagged := reg.Host + "/ratify-demo/net-monitor:v1"

	code, out, errOut := runCLI(t, "fixture", "copy", "-s", tagged, "--to", dir, "--plain-http")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "copied "+tagged+" to "+dir) || !strings.Contains(out, notationSig.Digest.String()) || !strings.Contains(out, cosignSig.Digest.String()) {
		t.Fatalf("output does not show the copy:\n%s", out)
	}
	// Again under another name, into the same layout: it adds.
	code, _, errOut = runCLI(t, "fixture", "copy", "-s", ref, "--to", dir, "--plain-http", "--as", "localhost:5000/net-monitor:prod")
	if code != 0 {
		t.Fatalf("--as: exit %d: %s", code, errOut)
	}
	reg.Stop()

	res := layoutResources(t, dir, reg.Host+"/*", "localhost:5000/*")
	checkSignatures(t, discoverJSON(t, "-s", tagged, "-c", res), notationSig, cosignSig)
	checkSignatures(t, discoverJSON(t, "-s", ref, "-c", res), notationSig, cosignSig)
	checkSignatures(t, discoverJSON(t, "-s", "localhost:5000/net-monitor:prod", "-c", res), notationSig, cosignSig)
	// The cosign signature is reachable by its tag, as cosign wrote it.
	img := ref[strings.Index(ref, "@")+1:]
	if code, _, errOut := runCLI(t, "discover", "-c", res, "-s", reg.Host+"/ratify-demo/net-monitor:"+oras.CosignSignatureTag(digest.Digest(img))); code != 0 {
		t.Fatalf("cosign signature tag: exit %d: %s", code, errOut)
	}
}

// TestFixtureCopyReferrersRecursively copies from a registry with the OCI
// 1.1 referrers API: a signature, an SBOM and the SBOM's own signature come
// along; the image's layer only with --with-layers.
func TestFixtureCopyReferrersRecursively(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	pki := sign.NewPKI(t, sign.Options{CommonName: "fixture"})
	sign.Notation(t, pki, repo, img, sign.JWS)
	sbom := regtest.PushArtifact(t, repo, img, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), nil)
	sign.Notation(t, pki, repo, sbom, sign.COSE)
	key := sign.NewCosignKey(t)
	sign.Cosign(t, key, repo, reg.Host+"/team/app", img, "")

	var manifest struct {
		Layers []struct{ Digest digest.Digest } `json:"layers"`
	}
	b, err := repo.Fetch(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(b).Decode(&manifest)
	b.Close()
	layerFile := func(dir string) string {
		return filepath.Join(dir, "blobs", "sha256", manifest.Layers[0].Digest.Encoded())
	}

	sparse, full := filepath.Join(t.TempDir(), "sparse"), filepath.Join(t.TempDir(), "full")
	src := reg.Host + "/team/app:v1"
	if code, out, errOut := runCLI(t, "fixture", "copy", "-s", src, "--to", sparse, "--plain-http"); code != 0 || !strings.Contains(out, "1 layer left out") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "fixture", "copy", "-s", src, "--to", full, "--plain-http", "--with-layers"); code != 0 || strings.Contains(out, "left out") {
		t.Fatalf("--with-layers: exit %d: %s%s", code, out, errOut)
	}
	if _, err := os.Stat(layerFile(sparse)); !os.IsNotExist(err) {
		t.Errorf("the layer was copied without --with-layers (%v)", err)
	}
	if _, err := os.Stat(layerFile(full)); err != nil {
		t.Errorf("--with-layers: %v", err)
	}
	reg.Stop()

	for _, dir := range []string{sparse, full} {
		tree := discoverJSON(t, "-s", src, "-c", layoutResources(t, dir, reg.Host+"/*"))
		types := map[string]int{}
		var sbomNode *oras.Node
		for _, n := range tree.Referrers {
			types[n.ArtifactType]++
			if n.Digest == sbom.Digest {
				sbomNode = n
			}
		}
		if types[notationSigType] != 1 || types["application/spdx+json"] != 1 || types[oras.CosignSignatureArtifactType] != 1 {
			t.Fatalf("%s: referrers %v", dir, types)
		}
		if sbomNode == nil || len(sbomNode.Referrers) != 1 || sbomNode.Referrers[0].ArtifactType != notationSigType {
			t.Fatalf("%s: the SBOM's signature was not copied: %+v", dir, sbomNode)
		}
	}
}

func TestFixtureCopyErrors(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	regtest.PushImage(t, regtest.Repo(t, reg.Host, "app", "", ""), "v1")
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-s", reg.Host + "/app:missing", "--to", dir, "--plain-http"}, 1, "not found"},
		{[]string{"-s", reg.Host + "/app:v1", "--to", dir}, 2, "--plain-http"},
		{[]string{"-s", reg.Host + "/app:v1"}, 2, `required flag(s) "to"`},
		{[]string{"-s", reg.Host + "/app:v1", "--to", dir, "--plain-http", "--as", "x/y@sha256:" + strings.Repeat("0", 64)}, 2, "not a digest"},
		{[]string{"-s", reg.Host + "/app:v1", "--to", dir, "-c", "/does/not/exist"}, 2, "no such file"},
	} {
		code, _, errOut := runCLI(t, append([]string{"fixture", "copy"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}
