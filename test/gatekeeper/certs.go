package gatekeeper

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: caName, Organization: []string{caOrganization}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: serviceDNSName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{serviceDNSName, "gatekeeper-webhook-service." + Namespace, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := keyPEM(caKey)
	if err != nil {
		return nil, err
	}
	leafKeyPEM, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	return &certs{
		caCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		caKey:  caKeyPEM,
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    leafKeyPEM,
	}, nil
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
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
