package gatekeeper

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// The names Gatekeeper's own certificate rotator uses (its main.go: caName,
// caOrganization, and the DNS name from --cert-service-name and the
// namespace), so that a provider checking them sees what it would see in a
// cluster.
const (
	caName         = "gatekeeper-ca"
	caOrganization = "gatekeeper"
	serviceDNSName = "gatekeeper-webhook-service." + Namespace + ".svc"
)

// certs is Gatekeeper's CA and serving certificate, PEM encoded.
type certs struct {
	caCert, caKey, cert, key []byte
}

// newCerts issues a CA and, from it, the certificate Gatekeeper serves its
// webhooks with (IP 127.0.0.1, localhost and the Service name) and presents
// to providers: like the rotator's with external data on, it is valid for
// server and client authentication.
func newCerts() (*certs, error) {
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: caName, Organization: []string{caOrganization}})
	if err != nil {
		return nil, err
	}
	tmpl := sample.ServerTemplate(serviceDNSName, "gatekeeper-webhook-service."+Namespace, "localhost", "127.0.0.1")
	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	leaf, err := ca.Issue(tmpl)
	if err != nil {
		return nil, err
	}
	caKey, err := sample.PrivateKeyPEM(ca.Key)
	if err != nil {
		return nil, err
	}
	cert, key, err := sample.PairPEM(leaf)
	if err != nil {
		return nil, err
	}
	return &certs{caCert: ca.PEM(), caKey: []byte(caKey), cert: cert, key: key}, nil
}

// writeCertDir writes the files Gatekeeper reads from --cert-dir (the
// names of the Secret's keys, as its volume would show them).
func (c *certs) writeCertDir(dir string) error {
	for name, data := range map[string][]byte{"ca.crt": c.caCert, "tls.crt": c.cert, "tls.key": c.key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing the cert dir: %w", err)
		}
	}
	return nil
}
