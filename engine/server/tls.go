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

// certReloader serves tls.crt and tls.key from a directory and reloads
// them when either file changes, so a rotated certificate (cert-manager,
// Ratify's RATIFY_CERT_ROTATION) is used without a restart.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

// recheck bounds how often the files are looked at.
const recheck = time.Second

func newCertReloader(dir string) (*certReloader, error) {
	r := &certReloader{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return s, nil
}

func (r *certReloader) reload() error {
	stamp, err := r.fileStamp()
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	r.mu.Lock()
	r.cert, r.stamp, r.checked = &cert, stamp, time.Now()
	r.mu.Unlock()
	return nil
}

// GetCertificate implements tls.Config.GetCertificate. A failed reload
// (say, the key written before the certificate) keeps serving the last
// good pair and tries again on a later handshake.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	due := time.Since(r.checked) > recheck
	if due {
		r.checked = time.Now()
	}
	cert, stamp := r.cert, r.stamp
	r.mu.Unlock()
	if due {
		if now, err := r.fileStamp(); err == nil && now != stamp {
			if err := r.reload(); err == nil {
				r.mu.Lock()
				cert = r.cert
				r.mu.Unlock()
			}
		}
	}
	return cert, nil
}

// tlsConfig is the server's TLS: the reloading certificate and, when
// clientCAFile is set, mutual TLS that refuses clients without a
// certificate issued by that CA (Gatekeeper's).
func tlsConfig(certDir, clientCAFile string) (*tls.Config, error) {
	r, err := newCertReloader(certDir)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
