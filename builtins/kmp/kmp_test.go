package kmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// pubPEM is the public key of a fresh key of alg, in PEM.
func pubPEM(t *testing.T, alg sample.KeyAlgorithm) string {
	t.Helper()
	k, err := sample.NewKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sample.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func certPEM(t *testing.T, cn string) string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// addInline registers an inline provider of contentType and value.
func addInline(reg *Registry, ns, name, contentType, value string) error {
	p, err := NewInline(Ref(ns, name), contentType, value)
	if err != nil {
		return err
	}
	return reg.AddProvider(ns, name, p)
}

func TestInlineKeysAndCertificates(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	if err := addInline(reg, "", "keys", ContentKey, pubPEM(t, sample.ECDSAP384)+pubPEM(t, sample.RSA2048)+pubPEM(t, sample.Ed25519)); err != nil {
		t.Fatal(err)
	}
	if err := addInline(reg, "", "certs", ContentCertificate, certPEM(t, "root")); err != nil {
		t.Fatal(err)
	}
	keys, err := reg.Keys(context.Background(), "keys", "")
	if err != nil {
		t.Fatal(err)
	}
	var algs []string
	for _, k := range keys {
		algs = append(algs, k.Algorithm+"@"+k.Version)
		if !k.Enabled || k.Provider != "keys" || !strings.Contains(k.PEM, "PUBLIC KEY") {
			t.Errorf("key %+v", k)
		}
	}
	if strings.Join(algs, ",") != "ECDSA-P-384@0,RSA-2048@1,Ed25519@2" {
		t.Errorf("algorithms %v", algs)
	}
	certs, err := reg.Certificates(context.Background(), "certs", "")
	if err != nil || len(certs) != 1 || certs[0].Subject != "CN=root" || certs[0].Version != "" {
		t.Fatalf("certificates %+v %v", certs, err)
	}
}

func TestInlineErrors(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalECPrivateKey(ec)
	priv := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}))
	for _, c := range []struct {
		contentType, value string
		want               string
	}{
		{"", certPEM(t, "x"), "contentType is required"},
		{"secret", certPEM(t, "x"), `contentType "secret"`},
		{ContentCertificate, "", "value is empty"},
		{ContentCertificate, "not pem", "no PEM block"},
		{ContentCertificate, certPEM(t, "x") + "trailing", "text after the last PEM block"},
		{ContentCertificate, pubPEM(t, sample.ECDSAP256), "want CERTIFICATE"},
		{ContentKey, certPEM(t, "x"), "use contentType: certificate"},
		{ContentKey, priv, "give the public key only"},
		{ContentCertificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1"},
	} {
		_, err := NewInline("p", c.contentType, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %q: got %v, want an error containing %q", c.contentType, c.value, err, c.want)
		}
	}
	// A provider that failed to build fails every call with its error.
	reg := NewRegistry()
	if err := reg.AddProvider("", "broken", Failing(ErrUnsupportedType)); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Keys(context.Background(), "broken", ""); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("use of a broken provider: %v", err)
	}
}

// The KMP document's visibility rules.
func TestVisibility(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	cert := certPEM(t, "x")
	for _, ns := range []string{"", "team-a", "team-b"} {
		if err := addInline(reg, ns, "certs", ContentCertificate, cert); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ref, scope string
		err        error
	}{
		{"certs", "", nil},
		{"certs", "team-a", nil},
		{"team-a/certs", "team-a", nil},
		{"team-a/certs", "", ErrNotVisible},
		{"team-a/certs", "team-b", ErrNotVisible},
		{"missing", "", ErrUnknownProvider},
		{"team-a/missing", "team-a", ErrUnknownProvider},
		{"", "", ErrUnknownProvider},
	} {
		_, err := reg.Certificates(context.Background(), c.ref, c.scope)
		if !errors.Is(err, c.err) {
			t.Errorf("%q from scope %q: %v, want %v", c.ref, c.scope, err, c.err)
		}
	}
}
