package keyvaultsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Kind is a collection of the vault.
type Kind string

// The vault's collections, as in its paths.
const (
	Keys         Kind = "keys"
	Secrets      Kind = "secrets"
	Certificates Kind = "certificates"
)

// Content types of a certificate's secret.
const (
	ContentTypePEM    = "application/x-pem-file"
	ContentTypePKCS12 = "application/x-pkcs12"
)

// version is one version of a key, secret or certificate.
type version struct {
	id      string
	created time.Time
	enabled bool
	managed bool // a certificate's key or secret

	jwk map[string]any // keys: the public JWK, without kid

	contentType, value string // secrets

	cert       *x509.Certificate // certificates: the leaf
	exportable bool
	keyProps   map[string]any
}

// newVersion is a version identifier as the service makes them: 32 hex
// digits.
func newVersion() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// add stores a new version of kind/name, created after every other
// version of the vault, so creation times order versions strictly.
func (v *Vault) add(kind Kind, name string, ver *version) { v.put(kind, name, ver, v.tick()) }

// tick is the next creation time; v.mu is held.
func (v *Vault) tick() time.Time {
	v.clock = v.clock.Add(time.Minute)
	return v.clock
}

func (v *Vault) put(kind Kind, name string, ver *version, created time.Time) {
	ver.created = created
	ver.enabled = true
	v.objects[kind][name] = append(v.objects[kind][name], ver)
}

// KeyOptions shape a key made by CreateKey.
type KeyOptions struct {
	// Algorithm of the key; default ECDSA P-256. RSA and ECDSA P-256,
	// P-384 and P-521 are what the vault makes.
	Algorithm sample.KeyAlgorithm
	// HSM makes the key's type RSA-HSM or EC-HSM, as a Premium vault's
	// `--protection hsm` keys are.
	HSM bool
}

// CreateKey adds a new version of key name (`az keyvault key create`) and
// returns its version and private key, for signing.
func (v *Vault) CreateKey(name string, o KeyOptions) (string, crypto.Signer, error) {
	key, err := sample.NewKey(o.Algorithm)
	if err != nil {
		return "", nil, err
	}
	jwk, err := publicJWK(key.Public(), o.HSM)
	if err != nil {
		return "", nil, err
	}
	return v.ImportKeyJWK(name, jwk), key, nil
}

// ImportKeyJWK adds a new version of key name whose public JWK is jwk (a
// kty and its fields), for key types CreateKey does not make (`oct`).
func (v *Vault) ImportKeyJWK(name string, jwk map[string]any) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ver := &version{id: newVersion(), jwk: jwk}
	v.add(Keys, name, ver)
	return ver.id
}

// publicJWK is the JWK of a public key as the vault returns it: base64url
// fields without padding, EC coordinates at the curve's full size.
func publicJWK(pub crypto.PublicKey, hsm bool) (map[string]any, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	suffix := ""
	if hsm {
		suffix = "-HSM"
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{
			"kty": "RSA" + suffix, "key_ops": []string{"sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"},
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
		}, nil
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04 || X || Y, each at the curve's size
		if err != nil {
			return nil, err
		}
		size := (len(raw) - 1) / 2
		return map[string]any{
			"kty": "EC" + suffix, "key_ops": []string{"sign", "verify"}, "crv": k.Curve.Params().Name,
			"x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:]),
		}, nil
	}
	return nil, fmt.Errorf("keyvaultsim: the vault holds no %T keys", pub)
}

// CertificateOptions shape a certificate made by CreateCertificate.
type CertificateOptions struct {
	// ContentType of its secret: ContentTypePKCS12 (the vault's default)
	// or ContentTypePEM.
	ContentType string
	// NonExportable leaves the private key out of the secret, as a
	// certificate policy with exportable: false does.
	NonExportable bool
	// CA issues the leaf; default a fresh CA. Reusing one keeps the root a
	// verifier trusts across rotations.
	CA *sample.PKI
	// Leaf shapes the leaf certificate (its key algorithm, common name).
	Leaf sample.Options
}

// Certificate is one version of a certificate: the chain its secret holds
// (leaf, then CA) and the leaf's private key, for signing.
type Certificate struct {
	Version string
	*sample.PKI
}

// CreateCertificate adds a new version of certificate name, with its key
// and secret of the same name and version, as the vault does.
func (v *Vault) CreateCertificate(name string, o CertificateOptions) (*Certificate, error) {
	var (
		pki *sample.PKI
		err error
	)
	if o.CA != nil {
		pki, err = o.CA.Issue(o.Leaf)
	} else {
		pki, err = sample.NewPKI(o.Leaf)
	}
	if err != nil {
		return nil, err
	}
	if o.ContentType == "" {
		o.ContentType = ContentTypePKCS12
	}
	value, err := secretValue(o.ContentType, pki, !o.NonExportable)
	if err != nil {
		return nil, err
	}
	jwk, err := publicJWK(pki.LeafKey.Public(), false)
	if err != nil {
		return nil, err
	}
	props := map[string]any{"exportable": !o.NonExportable, "kty": jwk["kty"], "reuse_key": false}
	if crv, ok := jwk["crv"]; ok {
		props["crv"] = crv
	} else {
		props["key_size"] = pki.LeafKey.Public().(*rsa.PublicKey).N.BitLen()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// The three share one version and creation time, as in the service.
	id, at := newVersion(), v.tick()
	v.put(Certificates, name, &version{id: id, cert: pki.Leaf, contentType: o.ContentType, exportable: !o.NonExportable, keyProps: props}, at)
	v.put(Keys, name, &version{id: id, jwk: jwk, managed: true}, at)
	v.put(Secrets, name, &version{id: id, contentType: o.ContentType, value: value, managed: true}, at)
	return &Certificate{Version: id, PKI: pki}, nil
}

// secretValue is a certificate's secret: PEM (key, then leaf and CA) or
// base64 PKCS#12 without password.
func secretValue(contentType string, pki *sample.PKI, withKey bool) (string, error) {
	chain := []*x509.Certificate{pki.Leaf, pki.CA}
	switch contentType {
	case ContentTypePEM:
		var b strings.Builder
		if withKey {
			k, err := sample.PrivateKeyPEM(pki.LeafKey)
			if err != nil {
				return "", err
			}
			b.WriteString(k)
		}
		for _, c := range chain {
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		return b.String(), nil
	case ContentTypePKCS12:
		var (
			der []byte
			err error
		)
		if withKey {
			der, err = pkcs12.LegacyDES.Encode(pki.LeafKey, pki.Leaf, chain[1:], "")
		} else {
			// Certificates alone: what a non-exportable key leaves.
			der, err = pkcs12.LegacyDES.EncodeTrustStore(chain, "")
		}
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("keyvaultsim: secret content type %q: want %s or %s", contentType, ContentTypePEM, ContentTypePKCS12)
}

// SetSecret adds a new version of a plain secret (not a certificate's).
func (v *Vault) SetSecret(name, contentType, value string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ver := &version{id: newVersion(), contentType: contentType, value: value}
	v.add(Secrets, name, ver)
	return ver.id
}

// SetEnabled enables or disables one version ("" is the latest) of an
// object. A certificate's key and secret follow it, as in the service.
func (v *Vault) SetEnabled(kind Kind, name, ver string, enabled bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	kinds := []Kind{kind}
	if kind == Certificates {
		kinds = []Kind{Certificates, Keys, Secrets}
	}
	for i, k := range kinds {
		found := v.lookup(k, name, ver)
		if found == nil {
			if i == 0 {
				return fmt.Errorf("%w: %s %s version %q", ErrNotFound, kind, name, ver)
			}
			continue
		}
		found.enabled = enabled
		ver = found.id
	}
	return nil
}

// Latest is the newest version of an object, "" if there is none.
func (v *Vault) Latest(kind Kind, name string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if found := v.lookup(kind, name, ""); found != nil {
		return found.id
	}
	return ""
}

// lookup finds a version ("" is the newest); v.mu is held.
func (v *Vault) lookup(kind Kind, name, ver string) *version {
	vs := v.objects[kind][name]
	if len(vs) == 0 {
		return nil
	}
	if ver == "" {
		return vs[len(vs)-1]
	}
	for _, x := range vs {
		if x.id == ver {
			return x
		}
	}
	return nil
}
