package sample

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

// A server certificate from a TLSCA verifies for each of its names, DNS
// or IP, against that CA alone, and not for another name or another CA;
// its PEM pair loads as a TLS key pair.
func TestTLSCAServerCertificate(t *testing.T) {
	ca, err := NewTLSCA(pkix.Name{CommonName: "test CA"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(ServerTemplate("svc.example", "127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"svc.example", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
		t.Error("verified for a name it was not issued for")
	}
	other, _ := NewTLSCA(pkix.Name{CommonName: "other CA"})
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "svc.example", Roots: otherRoots}); err == nil {
		t.Error("verified against another CA")
	}
	certPEM, keyPEM, err := PairPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
}
