package main

import (
	"os"
	"regexp"
	"strings"
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
		"--chown=65532:65532 /out/rootfs/home/nonroot /home/nonroot",
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
