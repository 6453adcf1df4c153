package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"time"
)

// The user the image runs as: distroless's "nonroot", which the chart's
// securityContext (runAsUser 65532) expects.
const (
	nonrootUID = 65532
	nonrootGID = 65532
	imageUser  = "65532:65532"

	// caBundlePath is where Go's crypto/x509 looks first on linux, so the
	// image needs no SSL_CERT_FILE.
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	binaryPath   = "ratify"
)

// passwd and group name root and nonroot with no login shell, so that
// anything resolving the user (logs, os/user) finds a name.
const (
	passwdFile = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	groupFile = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// entry is one file or directory of a layer.
type entry struct {
	name     string // relative to /, directories end in "/"
	mode     int64  // permission bits, with fs.ModeSticky's tar bit where wanted
	uid, gid int
	data     []byte // nil for a directory
}

// baseEntries are the files every platform's image shares: the CA bundle,
// the users, a home for nonroot and /tmp. /tmp is 1777 like any /tmp; with
// the chart's read-only root filesystem an emptyDir is mounted over it.
func baseEntries(caBundle []byte) []entry {
	return []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(groupFile)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwdFile)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caBundlePath, mode: 0o644, data: caBundle},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, gid: nonrootGID},
		{name: "tmp/", mode: 0o1777},
	}
}

// binaryEntries is the layer of one platform: the ratify binary, owned by
// root so the process cannot rewrite itself.
func binaryEntries(binary []byte) []entry {
	return []entry{{name: binaryPath, mode: 0o755, data: binary}}
}

// tarLayer writes entries as an uncompressed tar with every timestamp set
// to mtime and no user or host names, so the same inputs give the same
// bytes on any machine.
func tarLayer(entries []entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		if e.data != nil {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readCABundle reads the build machine's CA bundle, which must hold at
// least one PEM certificate: an image without it cannot reach any
// registry over TLS, which is all ratify does.
func readCABundle(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %s does not exist (install the ca-certificates package, or pass -ca FILE)", ErrNoCABundle, path)
		}
		return nil, fmt.Errorf("%w: %v", ErrNoCABundle, err)
	}
	if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrNoCABundle, path)
	}
	return b, nil
}
