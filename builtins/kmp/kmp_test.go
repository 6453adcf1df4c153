package kmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
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

func params(contentType, value string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"contentType": contentType, "value": value})
	return b
}

func TestInlineKeysAndCertificates(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	if err := reg.Add("", "keys", "inline", params(ContentKey, pubPEM(t, sample.ECDSAP384)+pubPEM(t, sample.RSA2048)+pubPEM(t, sample.Ed25519))); err != nil {
		t.Fatal(err)
	}
	if err := reg.Add("", "certs", "inline", params(ContentCertificate, certPEM(t, "root"))); err != nil {
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
		params json.RawMessage
		want   string
	}{
		{params("", certPEM(t, "x")), "contentType is required"},
		{params("secret", certPEM(t, "x")), `contentType "secret"`},
		{params(ContentCertificate, ""), "value is empty"},
		{params(ContentCertificate, "not pem"), "no PEM block"},
		{params(ContentCertificate, certPEM(t, "x")+"trailing"), "text after the last PEM block"},
		{params(ContentCertificate, pubPEM(t, sample.ECDSAP256)), "want CERTIFICATE"},
		{params(ContentKey, certPEM(t, "x")), "use contentType: certificate"},
		{params(ContentKey, priv), "give the public key only"},
		{params(ContentCertificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "certificate 1"},
		{json.RawMessage(`[1]`), "parameters"},
	} {
		err := NewRegistry().Add("", "p", "inline", c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.params, err, c.want)
		}
	}
	reg := NewRegistry()
	if err := reg.Add("", "akv", "azurekeyvault", json.RawMessage(`{}`)); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("unsupported type: %v", err)
	}
	// A provider that failed to build fails every call with its error.
	if _, err := reg.Keys(context.Background(), "akv", ""); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("use of a broken provider: %v", err)
	}
}

// The KMP document's visibility rules.
func TestVisibility(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	cert := params(ContentCertificate, certPEM(t, "x"))
	for _, ns := range []string{"", "team-a", "team-b"} {
		if err := reg.Add(ns, "certs", "inline", cert); err != nil {
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
