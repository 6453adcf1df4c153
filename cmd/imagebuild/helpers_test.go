package main

import (
	"archive/tar"
	"io"
	"io/fs"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// tree is an image's flattened filesystem: headers by name (without a
// trailing slash) and the contents of regular files.
type tree struct {
	headers map[string]*tar.Header
	files   map[string][]byte
}

func flatten(t *testing.T, img v1.Image) tree {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := tree{headers: map[string]*tar.Header{}, files: map[string][]byte{}}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n := trimSlash(h.Name)
		out.headers[n] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out.files[n] = b
		}
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// checkTree asserts what every ratify image holds, whatever the binary.
func checkTree(t *testing.T, tr tree, caBundle []byte) {
	t.Helper()
	want := map[string]struct {
		mode     fs.FileMode
		dir      bool
		uid, gid int
	}{
		"ratify":                            {mode: 0o755},
		"etc":                               {mode: 0o755, dir: true},
		"etc/passwd":                        {mode: 0o644},
		"etc/group":                         {mode: 0o644},
		"etc/ssl/certs":                     {mode: 0o755, dir: true},
		"etc/ssl/certs/ca-certificates.crt": {mode: 0o644},
		"home/nonroot":                      {mode: 0o700, dir: true, uid: nonrootUID, gid: nonrootGID},
		"tmp":                               {mode: 0o777 | fs.ModeSticky, dir: true},
	}
	for name, w := range want {
		h, ok := tr.headers[name]
		if !ok {
			t.Errorf("/%s is missing", name)
			continue
		}
		fi := h.FileInfo()
		if got := fi.Mode() & (fs.ModePerm | fs.ModeSticky); got != w.mode {
			t.Errorf("/%s mode = %v, want %v", name, got, w.mode)
		}
		if fi.IsDir() != w.dir {
			t.Errorf("/%s is a directory: %v, want %v", name, fi.IsDir(), w.dir)
		}
		if h.Uid != w.uid || h.Gid != w.gid {
			t.Errorf("/%s owner = %d:%d, want %d:%d", name, h.Uid, h.Gid, w.uid, w.gid)
		}
	}
	for name, h := range tr.headers {
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
			t.Errorf("/%s: unexpected entry type %q", name, h.Typeflag)
		}
		mode := h.FileInfo().Mode()
		// Nothing of root's may be changed by the 65532 process, except
		// in the sticky /tmp where it can only touch its own files.
		if h.Uid == 0 && mode&0o022 != 0 && !(mode.IsDir() && mode&fs.ModeSticky != 0) {
			t.Errorf("/%s is owned by root and writable by others (%v)", name, mode)
		}
	}
	if string(tr.files["etc/ssl/certs/ca-certificates.crt"]) != string(caBundle) {
		t.Error("the CA bundle differs from the build machine's")
	}
	if got := string(tr.files["etc/passwd"]); got != passwdFile {
		t.Errorf("/etc/passwd = %q", got)
	}
	if got := string(tr.files["etc/group"]); got != groupFile {
		t.Errorf("/etc/group = %q", got)
	}
}

// checkConfig asserts the runtime configuration the chart relies on.
func checkConfig(t *testing.T, cfg *v1.ConfigFile, p v1.Platform) {
	t.Helper()
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user = %q", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/ratify" {
		t.Errorf("entrypoint = %q", c.Entrypoint)
	}
	if len(c.Cmd) != 1 || c.Cmd[0] != "serve" {
		t.Errorf("cmd = %q", c.Cmd)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir = %q", c.WorkingDir)
	}
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		t.Errorf("config platform = %s/%s, want %s", cfg.OS, cfg.Architecture, p)
	}
	for _, k := range []string{labelSource, labelVersion, labelRevision, labelCreated} {
		if c.Labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
}
