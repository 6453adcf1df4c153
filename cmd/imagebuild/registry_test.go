package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/seed-12b584bc/ratify/test/regtest"
)

// maxCompressed is a bound on the pushed image (layers and config), well
// above today's ~28 MB, so that an image that suddenly carries a toolchain,
// a second binary or debug symbols fails here.
const maxCompressed = 64 << 20

// The image as `make image IMAGE=...` pushes it: built from this checkout
// for linux/amd64, pushed to a real distribution registry, pulled back and
// run.
func TestImagePushedAndRun(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	const caFile = "/etc/ssl/certs/ca-certificates.crt"
	ca, err := readCABundle(caFile)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}

	refStr := reg.Host + "/ratify:test"
	before := treeState(t)
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-C", "../..", "-platforms", "linux/amd64", "-ca", caFile, "-push", refStr}, &stdout, &stderr); code != 0 {
		t.Fatalf("imagebuild -push exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "pushed "+refStr+"@sha256:") {
		t.Errorf("stdout = %q", stdout.String())
	}

	ref, err := name.ParseReference(refStr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.String() != "linux/amd64" {
		t.Fatalf("pulled index = %+v, want one linux/amd64 image", im.Manifests)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cfg, amd64)
	checkSize(t, img)

	tr := flatten(t, img)
	checkTree(t, tr, ca)
	bin := filepath.Join(t.TempDir(), "ratify")
	if err := os.WriteFile(bin, tr.files["ratify"], tr.headers["ratify"].FileInfo().Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(bin, amd64); err != nil {
		t.Error(err)
	}
	// The binary's own build info names the commit the label names.
	if bi, err := buildinfo.ReadFile(bin); err != nil {
		t.Error(err)
	} else {
		var rev string
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
		if want := cfg.Config.Labels[labelRevision]; rev != want {
			if treeState(t) != before {
				t.Logf("a commit landed during the build: binary %s, label %s", rev, want)
			} else {
				t.Errorf("binary's vcs.revision = %q, label %q", rev, want)
			}
		}
	}
	runImage(ctx, t, bin, tr)

	// The same commit written as a layout has the same digest: the build
	// is reproducible, whichever way it is published.
	pushed, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, []string{"-C", "../..", "-platforms", "linux/amd64", "-ca", caFile, "-out", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("imagebuild -out exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "as an OCI layout in "+dir) {
		t.Errorf("stdout = %q", stdout.String())
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 {
		t.Fatalf("layout holds %+v, want one index", tm.Manifests)
	}
	if got := tm.Manifests[0].Digest; got != pushed {
		if treeState(t) != before {
			t.Logf("the checkout changed between the two builds (%s, then %s): not comparable", pushed, got)
		} else {
			t.Errorf("layout holds the index %s, want the pushed %s", got, pushed)
		}
	}
}

// treeState fingerprints the checkout the image is built from: its commit
// and its uncommitted changes, which both reach the binary.
func treeState(t *testing.T) string {
	t.Helper()
	var state []byte
	for _, args := range [][]string{{"rev-parse", "HEAD"}, {"status", "--porcelain"}, {"diff", "HEAD"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		state = append(state, out...)
	}
	sum := sha256.Sum256(state)
	return hex.EncodeToString(sum[:])
}

func checkSize(t *testing.T, img v1.Image) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	t.Logf("image: %d layers, %.1f MiB compressed", len(layers), float64(total)/(1<<20))
	if total > maxCompressed {
		t.Errorf("image is %d bytes compressed, more than %d", total, maxCompressed)
	}
}

// runImage runs the image's /ratify on this machine: first the extracted
// file with an empty environment, then, as root can, inside the image's
// own filesystem as 65532:65532, as a container runtime would start it.
func runImage(ctx context.Context, t *testing.T, bin string, tr tree) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Logf("not run: a linux/amd64 binary on %s/%s", runtime.GOOS, runtime.GOARCH)
		return
	}
	check := func(what string, cmd *exec.Cmd, want ...string) {
		t.Helper()
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", what, err, out)
			return
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output lacks %q:\n%s", what, w, out)
			}
		}
	}
	check("ratify --help", exec.CommandContext(ctx, bin, "--help"), "ratify checks", "serve")
	check("ratify version", exec.CommandContext(ctx, bin, "version"), "ratify v")

	if os.Geteuid() != 0 {
		t.Log("not run in the image's filesystem: that needs root (chroot)")
		return
	}
	root := t.TempDir()
	writeTree(t, tr, root)
	cmd := exec.CommandContext(ctx, "/ratify", "version")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: nonrootUID, Gid: nonrootGID},
	}
	check("/ratify version in the image as 65532", cmd, "ratify v")
}

// writeTree lays an image's files out in dir with their modes and owners.
func writeTree(t *testing.T, tr tree, dir string) {
	t.Helper()
	names := make([]string, 0, len(tr.headers))
	for n := range tr.headers {
		names = append(names, n)
	}
	sort.Strings(names) // parents first
	for _, n := range names {
		h := tr.headers[n]
		p := filepath.Join(dir, n)
		mode := h.FileInfo().Mode()
		var err error
		if mode.IsDir() {
			err = os.MkdirAll(p, 0o700)
		} else {
			err = os.WriteFile(p, tr.files[n], 0o600)
		}
		if err == nil {
			err = os.Chown(p, h.Uid, h.Gid)
		}
		if err == nil {
			err = os.Chmod(p, mode&(fs.ModePerm|fs.ModeSticky))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
