// Package sample makes signed sample content: fresh CAs and code-signing
// certificates, cosign keys, images, and Notary Project and cosign
// signatures pushed with the projects' own libraries. Tests use it through
// test/sign; `ratify demo` uses it to build its sample registry.
package sample

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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
	// Key is the algorithm of the leaf's key, and in NewPKI of the CA's;
	// default ECDSA P-256.
	Key KeyAlgorithm
	// OCSPServer is the leaf's OCSP responder, for revocation checks.
	OCSPServer []string
}

// NewPKI makes a CA and a leaf with the subject attributes notation wants
// of a trusted identity (C, ST, O).
func NewPKI(o Options) (*PKI, error) {
	caKey, err := NewKey(o.Key)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ratify test CA " + serial().String(), Organization: []string{"Ratify Test"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	ca, err := create(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	return (&PKI{CA: ca, CAKey: caKey}).Issue(o)
}

// Issue returns a PKI with the same CA and a new leaf.
func (p *PKI) Issue(o Options) (*PKI, error) {
	if o.CommonName == "" {
		o.CommonName = "ratify-leaf"
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	leafKey, err := NewKey(o.Key)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{CommonName: o.CommonName, Organization: []string{"Ratify Test"}, Locality: []string{"Seattle"},
			Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		OCSPServer:            o.OCSPServer,
	}
	leaf, err := create(leafTmpl, p.CA, leafKey.Public(), p.CAKey)
	if err != nil {
		return nil, err
	}
	return &PKI{CA: p.CA, CAKey: p.CAKey, Leaf: leaf, LeafKey: leafKey}, nil
}

// CAPEM is the CA certificate in PEM, for a trust store.
func (p *PKI) CAPEM() string { return CertPEM(p.CA) }

// Subject is the leaf's subject DN, as in `x509.subject: ...`.
func (p *PKI) Subject() string { return p.Leaf.Subject.String() }

// CertPEM encodes c.
func CertPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
