package sample

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeyAlgorithm names a key type and size as cosign.verify's reports do: "ECDSA-P256" (also P224, P384, P521), "RSA-<bits>" or
// "Ed25519". The empty name is ECDSA-P256, cosign's and notation's default.
type KeyAlgorithm string

// The algorithms signers use. Others of the same forms (RSA-1024,
// ECDSA-P224) make keys a verifier must refuse.
const (
	ECDSAP256 KeyAlgorithm = "ECDSA-P256"
	ECDSAP384 KeyAlgorithm = "ECDSA-P384"
	ECDSAP521 KeyAlgorithm = "ECDSA-P521"
	RSA2048   KeyAlgorithm = "RSA-2048"
	RSA3072   KeyAlgorithm = "RSA-3072"
	RSA4096   KeyAlgorithm = "RSA-4096"
	Ed25519   KeyAlgorithm = "Ed25519"
)

// ErrUnknownAlgorithm is returned for a KeyAlgorithm of no known form.
var ErrUnknownAlgorithm = errors.New("unknown key algorithm")

var curves = map[string]elliptic.Curve{
	"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521(),
}

// NewKey makes a fresh private key of alg: an *ecdsa.PrivateKey, an
// *rsa.PrivateKey or an ed25519.PrivateKey.
func NewKey(alg KeyAlgorithm) (crypto.Signer, error) {
	s := string(alg)
	switch {
	case s == "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case strings.HasPrefix(s, "ECDSA-"):
		if c, ok := curves[strings.TrimPrefix(s, "ECDSA-")]; ok {
			return ecdsa.GenerateKey(c, rand.Reader)
		}
	case strings.HasPrefix(s, "RSA-"):
		if bits, err := strconv.Atoi(strings.TrimPrefix(s, "RSA-")); err == nil {
			return rsa.GenerateKey(rand.Reader, bits)
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownAlgorithm, s)
}

// PublicKeyPEM encodes pub as a PKIX "PUBLIC KEY" block, as a KMP holds
// it and `cosign generate-key-pair` writes cosign.pub.
func PublicKeyPEM(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// PrivateKeyPEM encodes k as a PKCS #8 "PRIVATE KEY" block, the form
// `cosign import-key-pair` reads.
func PrivateKeyPEM(k crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
