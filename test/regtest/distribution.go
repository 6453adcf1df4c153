// Package regtest starts real registries for tests: the CNCF distribution
// registry binary, an in-process OCI 1.1 registry, and a fault-injecting
// proxy to put in front of either. It also pushes test images and artifacts.
package regtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// Registry is a running registry on loopback.
type Registry struct {
	// Host is host:port, as in an image reference.
	Host string
	// TLS is set when the registry serves HTTPS: CAFile is its CA.
	TLS *TLSFiles

	stop func()
}

// Stop shuts the registry down before the test ends, so a test can show
// that what follows needs no registry. It is safe to call twice.
func (r *Registry) Stop() {
	if r.stop != nil {
		r.stop()
	}
}

// DistributionOptions configure the distribution registry.
type DistributionOptions struct {
	// Username and Password, when set, turn on htpasswd authentication.
	Username, Password string
	// TLS serves HTTPS with a fresh CA (Registry.TLS.CAFile).
	TLS bool
	// Token, when set, turns on token authentication: every request needs
	// a bearer token from Token.Realm. URLs the registry writes are then
	// relative, so that it can stand behind a front server.
	Token *TokenAuth
}

// TokenAuth is the distribution registry's `auth: token` configuration:
// it accepts JWTs from Issuer for Service, signed by a key whose
// certificate chains to a certificate of RootCertBundle (a PEM file).
type TokenAuth struct {
	Realm, Service, Issuer, RootCertBundle string
}

// StartDistribution runs the `distribution` registry binary (which has no
// referrers API, so clients use the referrers tag schema) on a loopback port
// until the test ends.
func StartDistribution(t testing.TB, opts DistributionOptions) *Registry {
	t.Helper()
	bin := tools.Path(t, "registry")
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
`, filepath.Join(dir, "data"), port)
	var tlsFiles *TLSFiles
	if opts.TLS {
		f := NewTLSFiles(t, dir)
		tlsFiles = &f
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", f.CertFile, f.KeyFile)
	}
	if a := opts.Token; a != nil {
		cfg += fmt.Sprintf("  relativeurls: true\nauth:\n  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    rootcertbundle: %q\n",
			a.Realm, a.Service, a.Issuer, a.RootCertBundle)
	}
	if opts.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(opts.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			_ = cmd.Wait()
			logf.Close()
		})
	}
	t.Cleanup(stop)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(ctx, host, 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
		t.Fatalf("distribution registry did not start: %v\n%s", err, log)
	}
	return &Registry{Host: host, TLS: tlsFiles, stop: stop}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTCP polls until host accepts connections.
func waitTCP(ctx context.Context, host string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TLSFiles are a CA with a loopback server certificate and a client
// certificate, as PEM files.
type TLSFiles = sample.TLSFiles

// NewTLSFiles writes fresh TLS files into dir.
func NewTLSFiles(t testing.TB, dir string) TLSFiles {
	t.Helper()
	f, err := sample.NewTLSFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
