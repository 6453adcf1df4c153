package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The Dockerfile and imagebuild make the same image: the same Go, user,
// entrypoint and files. Docker is not here to build it, so this reads it.
func TestDockerfileMatches(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	text := string(df)
	for _, want := range []string{
		"ARG GO_VERSION=" + string(goVersion[1]) + "\n",
		"golang:${GO_VERSION} AS build",
		"CGO_ENABLED=0",
		`-trimpath -ldflags="-s -w"`,
		"./cmd/ratify\n",
		"FROM scratch\n",
		"USER " + imageUser + "\n",
		`ENTRYPOINT ["/` + binaryPath + `"]` + "\n",
		`CMD ["serve"]` + "\n",
		"WORKDIR /\n",
		"/etc/ssl/certs/ca-certificates.crt /out/rootfs/" + caBundlePath,
		"printf '" + strings.ReplaceAll(passwdFile, "\n", `\n`) + "' > /out/rootfs/etc/passwd",
		"printf '" + strings.ReplaceAll(groupFile, "\n", `\n`) + "' > /out/rootfs/etc/group",
		"chmod 1777 /out/rootfs/tmp",
		"chmod 0700 /out/rootfs/home/nonroot",
		"chown 65532:65532 /out/rootfs/home/nonroot",
		"COPY --from=build /out/rootfs/ /\n",
		"COPY --from=build /out/ratify /" + binaryPath + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	// Only the two stages, and no base image from a registry in the final one.
	froms := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(text, -1)
	if len(froms) != 2 || froms[1] != "FROM scratch" {
		t.Errorf("FROM lines = %q, want the build stage and scratch", froms)
	}
}

// .dockerignore keeps .git (the version comes from it) and drops the
// large ignored directories.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	for _, l := range []string{".git", "/.git", ".git/", "**/.git"} {
		if lines[l] {
			t.Errorf(".dockerignore drops %s: the binary would have no version", l)
		}
	}
	for _, l := range []string{"/bin", "/.tools"} {
		if !lines[l] {
			t.Errorf(".dockerignore keeps %s in the context", l)
		}
	}
}

// The Dockerfile's RUN that lays out the root filesystem, run here into a
// directory, makes the same files, modes and owners as imagebuild's base
// layer.
func TestDockerfileRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the layout chowns nonroot's home: needs root")
	}
	const caFile = "/etc/ssl/certs/ca-certificates.crt"
	ca, err := readCABundle(caFile)
	if err != nil {
		t.Skip(err)
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	script := ""
	for _, step := range strings.Split(strings.ReplaceAll(string(df), "\\\n", ""), "\n") {
		if strings.HasPrefix(step, "RUN mkdir -p /out/rootfs/") {
			script = strings.TrimPrefix(step, "RUN ")
		}
	}
	if script == "" {
		t.Fatal("no RUN mkdir -p /out/rootfs/ step in the Dockerfile")
	}
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "ratify"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-ec", "umask 022; "+strings.ReplaceAll(script, "/out/", out+"/"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	root := filepath.Join(out, "rootfs")
	want := map[string]entry{}
	for _, e := range baseEntries(ca) {
		want[strings.TrimSuffix(e.name, "/")] = e
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		w, ok := want[rel]
		if !ok {
			t.Errorf("the Dockerfile makes /%s, imagebuild does not", rel)
			return nil
		}
		delete(want, rel)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := int64(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		if mode != w.mode || int(st.Uid) != w.uid || int(st.Gid) != w.gid || fi.IsDir() != (w.data == nil) {
			t.Errorf("/%s: Dockerfile %o %d:%d dir %v, imagebuild %o %d:%d dir %v",
				rel, mode, st.Uid, st.Gid, fi.IsDir(), w.mode, w.uid, w.gid, w.data == nil)
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, w.data) {
				t.Errorf("/%s differs between the Dockerfile and imagebuild", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("imagebuild makes /%s, the Dockerfile does not", name)
	}
	if fi, err := os.Stat(filepath.Join(out, "ratify")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("the Dockerfile leaves /ratify %v (%v), want 0755", fi.Mode(), err)
	}
}
