package sample

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewKey(t *testing.T) {
	t.Parallel()
	for alg, want := range map[KeyAlgorithm]string{
		"": "P-256", ECDSAP256: "P-256", ECDSAP384: "P-384", ECDSAP521: "P-521", "ECDSA-P224": "P-224",
		RSA2048: "2048", "RSA-1024": "1024", Ed25519: "ed25519",
	} {
		k, err := NewKey(alg)
		if err != nil {
			t.Fatalf("%q: %v", alg, err)
		}
		var got string
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			got = k.Curve.Params().Name
		case *rsa.PrivateKey:
			got = strconv.Itoa(k.N.BitLen())
		case ed25519.PrivateKey:
			got = "ed25519"
		}
		if got != want {
			t.Errorf("%q: key %T of %s, want %s", alg, k, got, want)
		}
		if p, err := PublicKeyPEM(k.Public()); err != nil || !strings.HasPrefix(p, "-----BEGIN PUBLIC KEY-----") {
			t.Errorf("%q: public PEM %q %v", alg, p, err)
		}
		if p, err := PrivateKeyPEM(k); err != nil || !strings.HasPrefix(p, "-----BEGIN PRIVATE KEY-----") {
			t.Errorf("%q: private PEM %v", alg, err)
		}
	}
	for _, alg := range []KeyAlgorithm{"ECDSA-P100", "RSA-x", "DSA-1024", "ed25519"} {
		if _, err := NewKey(alg); !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("%q: %v", alg, err)
		}
	}
}

func TestPKIOptions(t *testing.T) {
	t.Parallel()
	nb, na := time.Now().Add(-3*time.Hour).Truncate(time.Second), time.Now().Add(-time.Hour).Truncate(time.Second)
	p, err := NewPKI(Options{CommonName: "expired", NotBefore: nb, NotAfter: na, Key: RSA2048, OCSPServer: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Leaf.Subject.CommonName != "expired" || !p.Leaf.NotBefore.Equal(nb) || !p.Leaf.NotAfter.Equal(na) {
		t.Errorf("leaf %s valid %s to %s", p.Leaf.Subject, p.Leaf.NotBefore, p.Leaf.NotAfter)
	}
	if p.Leaf.PublicKeyAlgorithm != x509.RSA || p.CA.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("leaf %s, CA %s, want RSA", p.Leaf.PublicKeyAlgorithm, p.CA.PublicKeyAlgorithm)
	}
	if len(p.Leaf.OCSPServer) != 1 || p.Leaf.OCSPServer[0] != "http://127.0.0.1:1" {
		t.Errorf("OCSP %v", p.Leaf.OCSPServer)
	}
	if err := p.Leaf.CheckSignatureFrom(p.CA); err != nil {
		t.Error(err)
	}
	// Issue keeps the CA; the default leaf key is ECDSA.
	q, err := p.Issue(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if q.CA != p.CA || q.Leaf.PublicKeyAlgorithm != x509.ECDSA || q.Leaf.Subject.CommonName != "ratify-leaf" {
		t.Errorf("issued %s %s", q.Leaf.Subject, q.Leaf.PublicKeyAlgorithm)
	}
}
