package kmp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"software.sslmate.com/src/go-pkcs12"
)

// Content types of a Key Vault certificate's secret.
const (
	ContentTypePEM    = "application/x-pem-file"
	ContentTypePKCS12 = "application/x-pkcs12"
)

// errPKCS12 marks a PKCS#12 secret that could not be decoded.
var errPKCS12 = errors.New("cannot decode the PKCS#12 secret")

// publicKeyFromJWK converts a vault key to a public key. HSM-backed types
// (RSA-HSM, EC-HSM) have the same public part as their software twins.
func publicKeyFromJWK(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	if k.Kty == nil {
		return nil, fmt.Errorf("%w: the vault's key has no kty", ErrBadContent)
	}
	switch kty := *k.Kty; kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return rsaKey(k)
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		return ecKey(k)
	default:
		return nil, fmt.Errorf("%w %q: verifiers use keys of type RSA, RSA-HSM, EC or EC-HSM", ErrUnsupportedKeyType, kty)
	}
}

func rsaKey(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	if len(k.N) == 0 || len(k.E) == 0 {
		return nil, fmt.Errorf("%w: RSA key without n or e", ErrBadContent)
	}
	e := new(big.Int).SetBytes(k.E)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: RSA exponent %s is not usable", ErrBadContent, e)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(e.Int64())}, nil
}

var jwkCurves = map[azkeys.CurveName]elliptic.Curve{
	azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521(),
}

func ecKey(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	if k.Crv == nil {
		return nil, fmt.Errorf("%w: EC key without crv", ErrBadContent)
	}
	curve, ok := jwkCurves[*k.Crv]
	if !ok {
		return nil, fmt.Errorf("%w: EC curve %q: verifiers use P-256, P-384 or P-521", ErrUnsupportedKeyType, *k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(k.X) == 0 || len(k.Y) == 0 || len(k.X) > size || len(k.Y) > size {
		return nil, fmt.Errorf("%w: EC key coordinates do not fit %s", ErrBadContent, *k.Crv)
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed
	copy(point[1+size-len(k.X):1+size], k.X)
	copy(point[1+2*size-len(k.Y):], k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("%w: EC key: %v", ErrBadContent, err)
	}
	return pub, nil
}

// publicKey is pub as a Key of provider ref, PEM in PKIX form.
func publicKey(ref string, pub crypto.PublicKey) (Key, error) {
	alg, err := algorithm(pub)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Key{}, err
	}
	return Key{Provider: ref, Enabled: true, Algorithm: alg,
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

func certificatePEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// certificatesFromSecret returns the certificates of a certificate's
// secret, in its order (leaf first), and how many private keys it held:
// those are dropped here and never kept.
func certificatesFromSecret(contentType, value string) ([]*x509.Certificate, int, error) {
	switch contentType {
	case ContentTypePEM:
		return pemChain(value)
	case ContentTypePKCS12:
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: not base64: %v", ErrBadContent, errPKCS12, err)
		}
		// Key Vault's PKCS#12 secrets have no password.
		key, leaf, chain, err := pkcs12.DecodeChain(der, "")
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w: %v", ErrBadContent, errPKCS12, err)
		}
		keys := 0
		if key != nil {
			keys = 1
		}
		return append([]*x509.Certificate{leaf}, chain...), keys, nil
	case "":
		return nil, 0, fmt.Errorf("%w: the secret has no content type: is it a certificate's secret?", ErrBadContent)
	}
	return nil, 0, fmt.Errorf("%w: secret content type %q: want %s or %s", ErrBadContent, contentType, ContentTypePEM, ContentTypePKCS12)
}

// pemChain reads the CERTIFICATE blocks of a PEM secret, skipping its
// private key.
func pemChain(value string) ([]*x509.Certificate, int, error) {
	var (
		certs []*x509.Certificate
		keys  int
	)
	rest := []byte(value)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, 0, fmt.Errorf("%w: certificate %d: %v", ErrBadContent, len(certs)+1, err)
			}
			certs = append(certs, c)
		case strings.Contains(b.Type, "PRIVATE KEY"):
			keys++
		}
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, 0, fmt.Errorf("%w: text after the last PEM block is not PEM", ErrBadContent)
	}
	if len(certs) == 0 {
		return nil, 0, fmt.Errorf("%w: the PEM secret holds no certificate", ErrBadContent)
	}
	return certs, keys, nil
}
