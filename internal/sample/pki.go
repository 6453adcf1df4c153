// Package sign makes signing fixtures at test time: fresh CAs and
// code-signing certificates, cosign keys, and Notary Project and cosign
// signatures pushed to a registry with the projects' own libraries.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// PKI is a fresh CA and a code-signing leaf it issued.
type PKI struct {
	CA      *x509.Certificate
	CAKey   crypto.Signer
	Leaf    *x509.Certificate
	LeafKey crypto.Signer
}

// Options shape the leaf certificate.
type Options struct {
	// CommonName of the leaf; default "ratify-leaf".
	CommonName string
	// NotBefore and NotAfter of the leaf; defaults an hour ago and a day ahead.
	NotBefore, NotAfter time.Time
}

// NewPKI makes a CA and a leaf with the subject attributes notation wants
// of a trusted identity (C, ST, O).
func NewPKI(t testing.TB, o Options) *PKI {
	t.Helper()
	caKey := ecKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ratify test CA " + serial().String(), Organization: []string{"Ratify Test"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	ca := create(t, caTmpl, caTmpl, caKey.Public(), caKey)
	return (&PKI{CA: ca, CAKey: caKey}).Issue(t, o)
}

// Issue returns a PKI with the same CA and a new leaf.
func (p *PKI) Issue(t testing.TB, o Options) *PKI {
	t.Helper()
	if o.CommonName == "" {
		o.CommonName = "ratify-leaf"
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	leafKey := ecKey(t)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{CommonName: o.CommonName, Organization: []string{"Ratify Test"}, Locality: []string{"Seattle"},
			Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	return &PKI{CA: p.CA, CAKey: p.CAKey, Leaf: create(t, leafTmpl, p.CA, leafKey.Public(), p.CAKey), LeafKey: leafKey}
}

// CAPEM is the CA certificate in PEM, for a trust store.
func (p *PKI) CAPEM() string { return CertPEM(p.CA) }

// Subject is the leaf's subject DN, as in `x509.subject: ...`.
func (p *PKI) Subject() string { return p.Leaf.Subject.String() }

// CertPEM encodes c.
func CertPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
