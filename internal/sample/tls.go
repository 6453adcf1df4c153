package sample

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are a fresh CA, a server certificate for 127.0.0.1 and
// localhost, and a client certificate from the same CA, as PEM files.
type TLSFiles struct {
	CAFile, CertFile, KeyFile     string
	ClientCertFile, ClientKeyFile string
}

// NewTLSFiles writes a CA, a loopback server certificate (tls.crt, tls.key,
// as `ratify serve --cert-dir` wants them) and a client certificate into dir.
func NewTLSFiles(dir string) (TLSFiles, error) {
	f := TLSFiles{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"), ClientKeyFile: filepath.Join(dir, "client.key")}
	ca, err := NewTLSCA(pkix.Name{CommonName: "ratify test registry CA"})
	if err != nil {
		return f, err
	}
	if err := os.WriteFile(f.CAFile, ca.PEM(), 0o600); err != nil {
		return f, err
	}
	server, err := ca.Issue(ServerTemplate("127.0.0.1", "localhost"))
	if err != nil {
		return f, err
	}
	if err := WritePair(server, f.CertFile, f.KeyFile); err != nil {
		return f, err
	}
	client, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "gatekeeper"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return f, err
	}
	return f, WritePair(client, f.ClientCertFile, f.ClientKeyFile)
}

// TLSCA is a fresh certificate authority for TLS: the servers, clients and
// webhooks of the demo, the simulators and the tests.
type TLSCA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewTLSCA makes a CA named subject with a P-256 key, valid from an hour
// ago for a day.
func NewTLSCA(subject pkix.Name) (*TLSCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &TLSCA{Cert: cert, Key: key}, nil
}

// PEM is the CA's certificate, for a trust bundle.
func (c *TLSCA) PEM() []byte { return []byte(CertPEM(c.Cert)) }

// Issue signs a certificate of tmpl for a fresh P-256 key; a zero serial
// number or validity is filled in (random; from an hour ago for a day).
// The result's Leaf is set.
func (c *TLSCA) Issue(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	t := *tmpl
	if t.SerialNumber == nil {
		t.SerialNumber = serial()
	}
	if t.NotBefore.IsZero() {
		t.NotBefore, t.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	leaf, err := create(&t, c.Cert, key.Public(), c.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerTemplate is a server certificate for names, the first its common
// name: IP addresses go into its IP SANs, the rest into its DNS names.
func ServerTemplate(names ...string) *x509.Certificate {
	t := &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if len(names) > 0 {
		t.Subject.CommonName = names[0]
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, n)
		}
	}
	return t
}

// PairPEM encodes an issued certificate and its key (PKCS #8).
func PairPEM(c tls.Certificate) (certPEM, keyPEM []byte, err error) {
	k, err := PrivateKeyPEM(c.PrivateKey.(crypto.Signer))
	if err != nil {
		return nil, nil, err
	}
	return []byte(CertPEM(c.Leaf)), []byte(k), nil
}

// WritePair writes an issued certificate and its key as PEM files.
func WritePair(c tls.Certificate, certFile, keyFile string) error {
	certPEM, keyPEM, err := PairPEM(c)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, keyPEM, 0o600)
}
