package keyvaultsim

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// serverTLS makes a fresh CA and a server certificate for host, and
// returns the server's TLS configuration and a pool of that CA alone.
func serverTLS(host string) (*tls.Config, *x509.CertPool, error) {
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "keyvaultsim test CA"})
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.Issue(sample.ServerTemplate(host))
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, roots, nil
}

func tlsClientConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
