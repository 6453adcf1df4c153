package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get answers the status and body of a plain HTTP GET, or the error.
func get(url string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// eventually polls check every 50ms until it returns "", failing the test
// with its last answer after 15s.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHealthPortAndWaitForCert: with WaitForCert the provider port stays
// closed until the certificate files exist, the plain HTTP health port
// answering /healthz and a /readyz that says why it is not ready; once
// the files are there the provider serves TLS and /readyz is ok on both
// ports.
func TestHealthPortAndWaitForCert(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	dir := t.TempDir()
	health := "http://" + freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- f.srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-", HealthAddr: strings.TrimPrefix(health, "http://"),
			CertDir: dir, WaitForCert: true, Ready: func(a string) { addr <- a }})
	}()
	eventually(t, "health port before the certificate", func() string {
		if code, body, err := get(health + "/healthz"); err != nil || code != http.StatusOK || body != "ok" {
			return "healthz: " + body
		}
		code, body, err := get(health + "/readyz")
		if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the TLS certificate") {
			return "readyz: " + body
		}
		return ""
	})
	select {
	case a := <-addr:
		t.Fatalf("the provider listens on %s without a certificate", a)
	case err := <-done:
		t.Fatalf("ListenAndServe ended without a certificate: %v", err)
	case <-time.After(time.Second):
	}
	files := regtest.NewTLSFiles(t, t.TempDir())
	copyInto(t, dir, files)
	a := listening(t, addr, done)
	pool := x509Pool(t, files.CAFile)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + a + "/readyz")
	if err != nil {
		t.Fatalf("the provider does not serve the mounted certificate: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "ok") {
		t.Fatalf("provider readyz: %d %s", resp.StatusCode, b)
	}
	if code, body, err := get(health + "/readyz"); err != nil || code != http.StatusOK || !strings.HasPrefix(body, "ok") {
		t.Fatalf("health readyz once serving: %d %q %v", code, body, err)
	}
	// The health port answers nothing else.
	if code, _, _ := get(health + server.VerifyPath); code != http.StatusNotFound {
		t.Fatalf("the health port answers %s: %d", server.VerifyPath, code)
	}
}

// TestHealthPortNotReadyBeforeConfiguration: /readyz on the health port
// is not ready before the first configuration, as the provider's.
func TestHealthPortNotReadyBeforeConfiguration(t *testing.T) {
	srv := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	health := "http://" + freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-", HealthAddr: strings.TrimPrefix(health, "http://"),
			PlainHTTP: true, Ready: func(a string) { addr <- a }})
	}()
	a := listening(t, addr, done)
	for _, url := range []string{health, "http://" + a} {
		if code, body, err := get(url + "/readyz"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "no configuration loaded") {
			t.Fatalf("%s/readyz before any configuration: %d %q %v", url, code, body, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(health + "/healthz"); err == nil {
		t.Fatal("the health port still answers after shutdown")
	}
}

// TestCertificateSecretVolumeSwap: a Secret volume updates its files by
// pointing the ..data symlink at a new directory (tls.crt is a symlink to
// ..data/tls.crt); the new certificate is served without a restart, even
// when the new files keep the old ones' modification time (they are other
// files: the reloader compares inodes too).
func TestCertificateSecretVolumeSwap(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	dir := t.TempDir()
	mustDo(t, os.Mkdir(filepath.Join(dir, "..2026_01_01_00_00_00.1"), 0o755))
	first := regtest.NewTLSFiles(t, filepath.Join(dir, "..2026_01_01_00_00_00.1"))
	mustDo(t, os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")))
	for _, name := range []string{"tls.crt", "tls.key"} {
		mustDo(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
	}
	served := serveCertDir(t, f, dir)
	if !bytes.Equal(served(), certDER(t, first.CertFile)) {
		t.Fatal("the mounted certificate is not the one served")
	}
	// The kubelet's atomic update: a new timestamped directory, a
	// ..data_tmp symlink to it renamed over ..data, the old one removed.
	next := filepath.Join(dir, "..2026_01_01_00_01_00.2")
	mustDo(t, os.Mkdir(next, 0o755))
	second := regtest.NewTLSFiles(t, next)
	for _, name := range []string{"tls.crt", "tls.key"} {
		old, err := os.Stat(filepath.Join(filepath.Dir(first.CertFile), name))
		mustDo(t, err)
		mustDo(t, os.Chtimes(filepath.Join(next, name), old.ModTime(), old.ModTime()))
	}
	mustDo(t, os.Symlink(filepath.Base(next), filepath.Join(dir, "..data_tmp")))
	mustDo(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	mustDo(t, os.RemoveAll(filepath.Dir(first.CertFile)))
	want := certDER(t, second.CertFile)
	eventually(t, "the swapped certificate", func() string {
		if got := served(); !bytes.Equal(got, want) {
			return "the old certificate is still served"
		}
		return ""
	})
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// copyInto writes files' certificate and key into dir as tls.crt and tls.key.
func copyInto(t *testing.T, dir string, files regtest.TLSFiles) {
	t.Helper()
	for from, to := range map[string]string{files.CertFile: "tls.crt", files.KeyFile: "tls.key"} {
		b, err := os.ReadFile(from)
		mustDo(t, err)
		// The key first would leave a moment with a mismatched pair; the
		// server retries until both load.
		mustDo(t, os.WriteFile(filepath.Join(dir, to), b, 0o600))
	}
}

// certDER is the first certificate of a PEM file.
func certDER(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	mustDo(t, err)
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	return block.Bytes
}

// x509Pool trusts the certificates of a PEM file.
func x509Pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	mustDo(t, err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no certificate", file)
	}
	return pool
}
