package kmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
)

// Content types of the inline provider.
const (
	ContentKey         = "key"
	ContentCertificate = "certificate"
)

// inline holds keys or certificates given as PEM in the resource. Several
// PEM blocks give several items, versioned by their position; inline items
// have no name (a Verifier filtering keys by name never matches them).
type inline struct {
	keys  []Key
	certs []Certificate
}

// NewInline is the inline provider ref of contentType (ContentKey or
// ContentCertificate) holding the PEM text value: the decoded parameters
// of an `inline` KeyManagementProvider.
func NewInline(ref, contentType, value string) (Provider, error) {
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("%w: parameters.value is empty", ErrBadContent)
	}
	in := &inline{}
	var err error
	switch contentType {
	case ContentKey:
		in.keys, err = ParseKeys(ref, value)
	case ContentCertificate:
		in.certs, err = ParseCertificates(ref, value)
	case "":
		return nil, fmt.Errorf("parameters.contentType is required: %q or %q", ContentKey, ContentCertificate)
	default:
		return nil, fmt.Errorf("parameters.contentType %q: want %q or %q", contentType, ContentKey, ContentCertificate)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

// NewInlineCertificates is the deprecated CertificateStore's inline
// provider: its `value` holds certificates.
func NewInlineCertificates(ref, value string) (Provider, error) {
	certs, err := ParseCertificates(ref, value)
	if err != nil {
		return nil, err
	}
	return &inline{certs: certs}, nil
}

func (in *inline) Keys(context.Context) ([]Key, error)                 { return in.keys, nil }
func (in *inline) Certificates(context.Context) ([]Certificate, error) { return in.certs, nil }

// pemBlocks splits PEM text into blocks, refusing trailing garbage.
func pemBlocks(value string) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := []byte(value)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: no PEM block found", ErrBadContent)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: text after the last PEM block is not PEM", ErrBadContent)
	}
	return blocks, nil
}

func version(i, n int) string {
	if n == 1 {
		return ""
	}
	return strconv.Itoa(i)
}

// ParseCertificates parses one or more PEM certificates.
func ParseCertificates(ref, value string) ([]Certificate, error) {
	blocks, err := pemBlocks(value)
	if err != nil {
		return nil, err
	}
	out := make([]Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: PEM block %d is %q, want CERTIFICATE (is contentType right?)", ErrBadContent, i+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrBadContent, i+1, err)
		}
		out = append(out, Certificate{
			Provider: ref, Version: version(i, len(blocks)), Enabled: true,
			Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter.UTC(),
			PEM: string(pem.EncodeToMemory(b)),
		})
	}
	return out, nil
}

// ParseKeys parses one or more PEM public keys (PKIX, or PKCS#1 RSA).
func ParseKeys(ref, value string) ([]Key, error) {
	blocks, err := pemBlocks(value)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(blocks))
	for i, b := range blocks {
		var pub any
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			return nil, fmt.Errorf("%w: PEM block %d is a certificate; use contentType: certificate", ErrBadContent, i+1)
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("%w: PEM block %d is a private key; give the public key only", ErrBadContent, i+1)
			}
			return nil, fmt.Errorf("%w: PEM block %d is %q, want PUBLIC KEY", ErrBadContent, i+1, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrBadContent, i+1, err)
		}
		alg, err := algorithm(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrBadContent, i+1, err)
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		out = append(out, Key{
			Provider: ref, Version: version(i, len(blocks)), Enabled: true, Algorithm: alg,
			PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		})
	}
	return out, nil
}

func algorithm(pub any) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA-" + k.Curve.Params().Name, nil
	case *rsa.PublicKey:
		return "RSA-" + strconv.Itoa(k.N.BitLen()), nil
	case ed25519.PublicKey:
		return "Ed25519", nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}
