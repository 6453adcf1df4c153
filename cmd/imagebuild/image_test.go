package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const fakeCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// testSpec is a Spec with a stand-in binary per platform: Build neither
// runs nor inspects the binary.
func testSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	var bins []PlatformBinary
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, "ratify-"+arch)
		if err := os.WriteFile(p, []byte("binary for "+arch), 0o600); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, PlatformBinary{Platform: v1.Platform{OS: "linux", Architecture: arch}, Path: p})
	}
	return Spec{
		Binaries: bins,
		CABundle: []byte(fakeCA),
		Version:  "v1.2.3",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Source:   "https://example.com/ratify",
		Created:  time.Unix(1700000000, 0),
	}
}

func TestBuildIndex(t *testing.T) {
	s := testSpec(t)
	idx, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type = %s", im.MediaType)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(im.Manifests))
	}
	for i, d := range im.Manifests {
		want := s.Binaries[i].Platform
		if d.Platform == nil || d.Platform.String() != want.String() {
			t.Errorf("manifest %d platform = %v, want %s", i, d.Platform, want)
		}
		if d.MediaType != types.OCIManifestSchema1 || d.ArtifactType != "" {
			t.Errorf("manifest %d: media type %s, artifactType %q: want a plain OCI image", i, d.MediaType, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, cfg, want)
		labels := cfg.Config.Labels
		if labels[labelVersion] != s.Version || labels[labelRevision] != s.Revision || labels[labelSource] != s.Source {
			t.Errorf("labels = %v", labels)
		}
		if !cfg.Created.Time.Equal(s.Created) || labels[labelCreated] != "2023-11-14T22:13:20Z" {
			t.Errorf("created = %v, label %q; want the spec's time", cfg.Created, labels[labelCreated])
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 2 {
			t.Fatalf("%d layers, want the shared files and the binary", len(layers))
		}
		for _, l := range layers {
			if mt, _ := l.MediaType(); mt != types.OCILayer {
				t.Errorf("layer media type = %s", mt)
			}
		}
		tr := flatten(t, img)
		checkTree(t, tr, s.CABundle)
		if got := string(tr.files["ratify"]); got != "binary for "+want.Architecture {
			t.Errorf("/ratify of %s = %q", want, got)
		}
		for name, h := range tr.headers {
			if !h.ModTime.Equal(s.Created) {
				t.Errorf("/%s mtime = %v, want %v", name, h.ModTime, s.Created)
			}
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("/%s names its owner %q:%q (the build machine's users)", name, h.Uname, h.Gname)
			}
		}
	}
}

// The same inputs give the same digest, and the timestamp is an input:
// what makes a commit's image reproducible.
func TestBuildReproducible(t *testing.T) {
	s := testSpec(t)
	digest := func(s Spec) v1.Hash {
		idx, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest(s)
	if again := digest(s); again != first {
		t.Errorf("two builds of one spec: %s and %s", first, again)
	}
	later := s
	later.Created = s.Created.Add(time.Second)
	if digest(later) == first {
		t.Error("another timestamp gave the same digest")
	}
}

func TestBuildNoPlatform(t *testing.T) {
	s := testSpec(t)
	s.Binaries = nil
	if _, err := Build(s); !errors.Is(err, ErrNoPlatform) {
		t.Errorf("err = %v, want ErrNoPlatform", err)
	}
}

func TestReadCABundle(t *testing.T) {
	dir := t.TempDir()
	_, err := readCABundle(filepath.Join(dir, "missing.crt"))
	if !errors.Is(err, ErrNoCABundle) || !strings.Contains(err.Error(), "ca-certificates") {
		t.Errorf("missing bundle: %v, want ErrNoCABundle naming the package to install", err)
	}
	empty := filepath.Join(dir, "empty.crt")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readCABundle(empty); !errors.Is(err, ErrNoCABundle) {
		t.Errorf("bundle without certificates: %v, want ErrNoCABundle", err)
	}
	good := filepath.Join(dir, "good.crt")
	if err := os.WriteFile(good, []byte(fakeCA), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readCABundle(good); err != nil || string(b) != fakeCA {
		t.Errorf("readCABundle = %q, %v", b, err)
	}
}

func TestCheckStatic(t *testing.T) {
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(notELF, amd64); !errors.Is(err, ErrNotStatic) {
		t.Errorf("a script: %v, want ErrNotStatic", err)
	}
	// The machine's shell is linked against libc: it would not start in
	// an image without one.
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Skip(err)
	}
	if err := checkStatic(sh, amd64); !errors.Is(err, ErrNotStatic) {
		t.Errorf("%s: %v, want ErrNotStatic", sh, err)
	}
}

func TestParsePlatforms(t *testing.T) {
	ps, err := parsePlatforms("linux/amd64, linux/arm64,")
	if err != nil || len(ps) != 2 || ps[0].String() != "linux/amd64" || ps[1].String() != "linux/arm64" {
		t.Errorf("parsePlatforms = %v, %v", ps, err)
	}
	if _, err := parsePlatforms("windows/amd64"); err == nil {
		t.Error("windows/amd64 accepted")
	}
	if _, err := parsePlatforms(" , "); !errors.Is(err, ErrNoPlatform) {
		t.Errorf("no platform: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000":       true,
		"localhost":            true,
		"127.0.0.1:5000":       true,
		"127.1.2.3":            true,
		"[::1]:5000":           true,
		"registry.example.com": false,
		"example.com:5000":     false,
		"10.0.0.1:5000":        false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRefInsecure(t *testing.T) {
	for ref, wantScheme := range map[string]string{
		"127.0.0.1:5000/ratify:dev":     "http",
		"localhost:5000/ratify:dev":     "http",
		"registry.example.com/ratify:1": "https",
	} {
		r, err := parseRef(ref, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != wantScheme {
			t.Errorf("%s: scheme %s, want %s", ref, got, wantScheme)
		}
	}
	r, err := parseRef("registry.example.com/ratify:1", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Context().Scheme(); got != "http" {
		t.Errorf("insecure: scheme %s, want http", got)
	}
}

func TestWriteLayout(t *testing.T) {
	idx, err := Build(testSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	dir := filepath.Join(t.TempDir(), "image")
	// Twice: the second write replaces the first layout.
	for range 2 {
		if err := writeLayout(dir, idx, "v1.2.3"); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != want ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Fatalf("layout index = %+v, want only %s tagged v1.2.3", im.Manifests, want)
	}
	got, err := top.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := got.IndexManifest(); len(m.Manifests) != 2 {
		t.Errorf("the layout's index has %d images, want 2", len(m.Manifests))
	}

	// A directory that is not a layout is never removed.
	other := t.TempDir()
	keep := filepath.Join(other, "keep")
	if err := os.WriteFile(keep, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(other, idx, "v1.2.3"); !errors.Is(err, ErrLayoutInUse) {
		t.Errorf("non-layout directory: %v, want ErrLayoutInUse", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the directory's file is gone: %v", err)
	}
}
