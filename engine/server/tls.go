package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// tlsReloader serves tls.crt and tls.key from a directory and, for mutual
// TLS, trusts the client CA file; it reloads all of them when one changes,
// so a rotated certificate or CA (cert-manager, Ratify's
// RATIFY_CERT_ROTATION, which rotates Gatekeeper's CA too) is used without
// a restart.
type tlsReloader struct {
	files  []string // tls.crt, tls.key and the client CA file, if any
	caFile string

	mu      sync.Mutex
	config  *tls.Config
	stamp   []os.FileInfo
	checked time.Time
}

// recheck bounds how often the files are looked at.
const recheck = time.Second

func newTLSReloader(certDir, clientCAFile string) (*tlsReloader, error) {
	r := &tlsReloader{files: []string{filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key")}, caFile: clientCAFile}
	if clientCAFile != "" {
		r.files = append(r.files, clientCAFile)
	}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// fileStamp is what the files are now, following symlinks: a Secret
// volume swaps its ..data symlink to a new directory, so tls.crt then
// resolves to another file, whatever its time and size.
func (r *tlsReloader) fileStamp() ([]os.FileInfo, error) {
	out := make([]os.FileInfo, 0, len(r.files))
	for _, f := range r.files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}

// sameStamp is whether no file changed between a and b: the same file
// (device and inode), time and size.
func sameStamp(a, b []os.FileInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

func (r *tlsReloader) reload() error {
	stamp, err := r.fileStamp()
	if err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.files[0], r.files[1])
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	// NextProtos as http.Server sets them for its own TLS config.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client CA %s: no PEM certificate", r.caFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.mu.Lock()
	r.config, r.stamp, r.checked = cfg, stamp, time.Now()
	r.mu.Unlock()
	return nil
}

// current is the configuration for a new connection. A failed reload
// (say, the key written before the certificate) keeps serving the last
// good configuration and tries again on a later handshake.
func (r *tlsReloader) current() *tls.Config {
	r.mu.Lock()
	due := time.Since(r.checked) > recheck
	if due {
		r.checked = time.Now()
	}
	cfg, stamp := r.config, r.stamp
	r.mu.Unlock()
	if due {
		if now, err := r.fileStamp(); err == nil && !sameStamp(now, stamp) {
			if err := r.reload(); err == nil {
				r.mu.Lock()
				cfg = r.config
				r.mu.Unlock()
			}
		}
	}
	return cfg
}

// tlsConfig is the server's TLS: the reloading certificate and, when
// clientCAFile is set, mutual TLS that refuses clients without a
// certificate issued by that CA (Gatekeeper's).
func tlsConfig(certDir, clientCAFile string) (*tls.Config, error) {
	r, err := newTLSReloader(certDir, clientCAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.current(), nil },
	}, nil
}
