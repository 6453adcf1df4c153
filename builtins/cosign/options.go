package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"

	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/tuf"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Limits on what a policy may pass; real configurations are far smaller, and
// the bounds keep a malformed or hostile policy cheap to reject.
const (
	maxKeys     = 256
	maxWarnings = 64
	maxPEMBytes = 64 << 10
)

// RSA key sizes accepted, as in sigstore's algorithm registry (which cosign
// signs with): smaller keys are too weak, larger ones are not signed by
// cosign and make verification needlessly expensive.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// Options are the decoded opts of cosign.verify.
type Options struct {
	// Keys are the enabled public keys; a signature verifies if any of them
	// verifies it.
	Keys []Key
	// DisabledKeys counts the keys skipped because `enabled: false`.
	DisabledKeys int
	// TLog requires a Rekor bundle verified against Rekor's public keys.
	TLog bool
	// RekorPublicKeys, when set, verify Rekor bundles offline instead of the
	// keys from sigstore's TUF root.
	RekorPublicKeys *sigcosign.TrustedTransparencyLogPubKeys
	// Warnings are copied into the report.
	Warnings []string
}

// Key is one public key signatures are verified with.
type Key struct {
	// Signer names the key in reports: provider/name@version, or key[i]
	// when the key was given as bare PEM.
	Signer string
	// Algorithm is e.g. "ECDSA-P256", "RSA-2048", "Ed25519".
	Algorithm string
	PublicKey crypto.PublicKey
	// schemes are the signature schemes tried, the one `cosign sign` uses
	// with this key first.
	schemes []scheme
}

// scheme is a verifier for one hash (or Ed25519 variant) of a key.
type scheme struct {
	name     string // "SHA256", "SHA384", "SHA512", "Ed25519ph", "Ed25519"
	verifier signature.Verifier
}

// ParseOptions decodes and validates opts:
//
//	keys:            [ {provider, name, version, enabled, algorithm, pem} | "<PEM>" ]
//	tlog:            bool (default false)
//	rekorPublicKeys: [ {pem} | "<PEM>" ] (ECDSA; only with tlog)
//	warnings:        [ string ]
//
// Unknown options are rejected: a misspelt `tlog` silently ignored would
// weaken verification.
func ParseOptions(opts map[string]any) (Options, error) {
	return parseOptions(opts, nil)
}

// parseOptions is ParseOptions with the keys' parsing remembered in memo.
func parseOptions(opts map[string]any, memo *lru.Cache[string, *parsedKey]) (Options, error) {
	var o Options
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	sort.Strings(names) // report the same error for the same input
	for _, k := range names {
		v := opts[k]
		if v == nil {
			continue
		}
		var err error
		switch k {
		case "keys":
			err = o.parseKeys(v, memo)
		case "tlog":
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("tlog: want true or false, got %s", decl.TypeName(v))
			}
			o.TLog = b
		case "rekorPublicKeys":
			o.RekorPublicKeys, err = parseRekorKeys(v)
		case "warnings":
			o.Warnings, err = parseWarnings(v)
		default:
			err = fmt.Errorf("unknown option %q (known: keys, tlog, rekorPublicKeys, warnings)", truncate(k, 64))
		}
		if err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

func (o *Options) parseKeys(v any, memo *lru.Cache[string, *parsedKey]) error {
	list, ok := v.([]any)
	if !ok {
		return fmt.Errorf("keys: want a list (the result of kmp.keys, or PEM strings), got %s", decl.TypeName(v))
	}
	if len(list) > maxKeys {
		return fmt.Errorf("keys: %d keys, at most %d", len(list), maxKeys)
	}
	for i, item := range list {
		k, enabled, err := parseKey(i, item, memo)
		if err != nil {
			return err
		}
		if !enabled {
			o.DisabledKeys++
			continue
		}
		o.Keys = append(o.Keys, k)
	}
	return nil
}

// parseKey decodes one entry of `keys`: a kmp.keys object or a PEM string.
func parseKey(i int, item any, memo *lru.Cache[string, *parsedKey]) (Key, bool, error) {
	label := fmt.Sprintf("keys[%d]", i)
	var (
		pemText string
		k       = Key{Signer: fmt.Sprintf("key[%d]", i)}
	)
	switch v := item.(type) {
	case string:
		pemText = v
	case map[string]any:
		var provider, name, version string
		fields := []struct {
			name string
			dst  *string
		}{{"provider", &provider}, {"name", &name}, {"version", &version}, {"pem", &pemText}}
		for _, f := range fields {
			if fv, ok := v[f.name]; ok && fv != nil {
				s, ok := fv.(string)
				if !ok {
					return Key{}, false, fmt.Errorf("%s.%s: want a string, got %s", label, f.name, decl.TypeName(fv))
				}
				*f.dst = s
			}
		}
		if ev, ok := v["enabled"]; ok && ev != nil {
			b, ok := ev.(bool)
			if !ok {
				return Key{}, false, fmt.Errorf("%s.enabled: want true or false, got %s", label, decl.TypeName(ev))
			}
			if !b {
				return Key{}, false, nil
			}
		}
		if s := signerName(provider, name, version); s != "" {
			k.Signer = s
			label += " (" + truncate(s, 128) + ")"
		}
		if pemText == "" {
			return Key{}, false, fmt.Errorf("%s: no pem field; pass the objects kmp.keys returns, or PEM strings", label)
		}
	default:
		return Key{}, false, fmt.Errorf("%s: want a kmp.keys object or a PEM string, got %s", label, decl.TypeName(item))
	}
	p, err := loadKey(memo, pemText)
	if err != nil {
		return Key{}, false, fmt.Errorf("%s: %w", label, err)
	}
	k.PublicKey, k.Algorithm, k.schemes = p.pub, p.alg, p.schemes
	return k, true, nil
}

// signerName is provider/name@version with empty parts left out.
func signerName(provider, name, version string) string {
	s := name
	if provider != "" {
		if s != "" {
			s = provider + "/" + s
		} else {
			s = provider
		}
	}
	if version != "" {
		s += "@" + version
	}
	return s
}

// parsePublicKeyPEM decodes exactly one PEM public key, with errors that say
// what was wrong with the text.
func parsePublicKeyPEM(text string) (crypto.PublicKey, error) {
	if len(text) > maxPEMBytes {
		return nil, fmt.Errorf("PEM text is %d bytes, at most %d", len(text), maxPEMBytes)
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		if strings.Contains(text, "-----BEGIN") {
			return nil, errors.New("malformed PEM: the block's base64 body or its -----END line is broken")
		}
		return nil, errors.New(`not a PEM public key: no "-----BEGIN PUBLIC KEY-----" block found`)
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		return nil, errors.New("holds more than one PEM block; give one key per entry")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("has text after the PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY", "RSA PUBLIC KEY":
	case "CERTIFICATE":
		return nil, errors.New("is a certificate, not a public key; pass the public key PEM")
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, fmt.Errorf("is a %s: never give a private key; pass the public key PEM", block.Type)
		}
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", truncate(block.Type, 64))
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(block))
	if err != nil {
		return nil, fmt.Errorf("cannot parse the public key: %w", err)
	}
	return pub, nil
}

// schemesFor names the key's algorithm and builds its verifiers.
//
// `cosign sign --key` signs with sigstore's default scheme for the key
// (cosign.LoadPrivateKey → signature.LoadDefaultSignerVerifier with
// Ed25519ph): SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for
// P-521, Ed25519ph for Ed25519. `cosign verify --key` instead hashes with
// --signature-digest-algorithm (default sha256) and verifies Ed25519 as pure
// Ed25519, so it rejects what its own `sign` made with P-384, P-521 and
// Ed25519 keys unless told the digest (checked with cosign v2.6.2). We try
// the signing default first, then what `cosign verify` does by default
// (SHA-256, pure Ed25519, also what older cosign releases signed with), so
// both verify; either is a sound scheme for the key.
func schemesFor(pub crypto.PublicKey) (string, []scheme, error) {
	var (
		alg   string
		tries []struct {
			name string
			opts []signature.LoadOption
		}
	)
	add := func(name string, opts ...signature.LoadOption) {
		tries = append(tries, struct {
			name string
			opts []signature.LoadOption
		}{name, opts})
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < minRSABits {
			return "", nil, fmt.Errorf("RSA key of %d bits is too weak: at least %d bits are required", bits, minRSABits)
		}
		if bits > maxRSABits {
			return "", nil, fmt.Errorf("RSA key of %d bits is not supported: %d to %d bits are", bits, minRSABits, maxRSABits)
		}
		alg = fmt.Sprintf("RSA-%d", bits)
		add("SHA256", sigopts.WithHash(crypto.SHA256))
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ECDSA-P256"
			add("SHA256", sigopts.WithHash(crypto.SHA256))
		case elliptic.P384():
			alg = "ECDSA-P384"
			add("SHA384", sigopts.WithHash(crypto.SHA384))
			add("SHA256", sigopts.WithHash(crypto.SHA256))
		case elliptic.P521():
			alg = "ECDSA-P521"
			add("SHA512", sigopts.WithHash(crypto.SHA512))
			add("SHA256", sigopts.WithHash(crypto.SHA256))
		default:
			return "", nil, fmt.Errorf("ECDSA curve %s is not supported: use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		alg = "Ed25519"
		add("Ed25519ph", sigopts.WithED25519ph())
		add("Ed25519")
	default:
		return "", nil, fmt.Errorf("%T keys are not supported: use ECDSA, RSA or Ed25519", pub)
	}
	schemes := make([]scheme, 0, len(tries))
	for _, t := range tries {
		v, err := signature.LoadVerifierWithOpts(pub, t.opts...)
		if err != nil {
			return "", nil, fmt.Errorf("loading a %s verifier: %w", alg, err)
		}
		schemes = append(schemes, scheme{name: t.name, verifier: v})
	}
	return alg, schemes, nil
}

// parseRekorKeys reads the Rekor public keys bundles are verified with
// offline. cosign only verifies a bundle's signed entry timestamp with ECDSA.
func parseRekorKeys(v any) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("rekorPublicKeys: want a list of PEM public keys, got %s", decl.TypeName(v))
	}
	if len(list) > maxKeys {
		return nil, fmt.Errorf("rekorPublicKeys: %d keys, at most %d", len(list), maxKeys)
	}
	keys := sigcosign.NewTrustedTransparencyLogPubKeys()
	for i, item := range list {
		text, ok := item.(string)
		if m, isMap := item.(map[string]any); isMap {
			text, ok = m["pem"].(string)
		}
		if !ok {
			return nil, fmt.Errorf("rekorPublicKeys[%d]: want a PEM string or an object with pem, got %s", i, decl.TypeName(item))
		}
		pub, err := parsePublicKeyPEM(text)
		if err != nil {
			return nil, fmt.Errorf("rekorPublicKeys[%d]: %w", i, err)
		}
		if _, ok := pub.(*ecdsa.PublicKey); !ok {
			return nil, fmt.Errorf("rekorPublicKeys[%d]: Rekor keys are ECDSA, got %T", i, pub)
		}
		pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return nil, fmt.Errorf("rekorPublicKeys[%d]: %w", i, err)
		}
		if err := keys.AddTransparencyLogPubKey(pemBytes, tuf.Active); err != nil {
			return nil, fmt.Errorf("rekorPublicKeys[%d]: %w", i, err)
		}
	}
	if len(keys.Keys) == 0 {
		return nil, nil // an empty list means "use sigstore's TUF root"
	}
	return &keys, nil
}

func parseWarnings(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("warnings: want a list of strings, got %s", decl.TypeName(v))
	}
	if len(list) > maxWarnings {
		return nil, fmt.Errorf("warnings: %d warnings, at most %d", len(list), maxWarnings)
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("warnings[%d]: want a string, got %s", i, decl.TypeName(item))
		}
		out = append(out, s)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
