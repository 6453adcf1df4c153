package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// Options are the decoded, validated opts of notation.verify.
type Options struct {
	// TrustPolicy is the Notary Project trust-policy document, validated by
	// notation-go. A single policy object in opts is wrapped into a
	// version "1.0" document.
	TrustPolicy *trustpolicy.Document
	// TrustStores holds the certificates of each "<type>:<name>" store.
	TrustStores TrustStore
	// Warnings are configuration smells: the opts' own `warnings`, then
	// what ParseOptions noticed (unknown fields, stores the policy names
	// but opts do not define).
	Warnings []string
}

// Known field names. Unknown fields are ignored with a warning rather than
// rejected, because Ratify v1 decoded trustPolicyDoc leniently and existing
// Verifier resources must keep working; the warning still surfaces typos
// such as "trustedIdentites".
var (
	optsFields     = []string{"trustPolicy", "trustStores", "warnings"}
	documentFields = []string{"version", "trustPolicies"}
	policyFields   = []string{"name", "registryScopes", "signatureVerification", "trustStores", "trustedIdentities"}
	sigVerFields   = []string{"level", "override", "verifyTimestamp"}
)

// ParseOptions decodes and validates opts: `trustPolicy` (a trust-policy
// document or one policy of it, as an object or its JSON text),
// `trustStores` ({"<type>:<name>": [certificate, ...]}, a certificate being
// a kmp.certificates entry or a PEM string) and optional `warnings`.
func ParseOptions(opts map[string]any) (Options, error) {
	var o Options
	// Normalise through JSON so callers may pass any JSON-like Go values
	// ([]string, map[string]string, json.Number, float64 ...) and the rest
	// of the decoding sees only map[string]any, []any, string, bool and
	// json.Number.
	norm, err := normalise(opts)
	if err != nil {
		return o, fmt.Errorf("notation options are not JSON-like: %w", err)
	}
	m, _ := norm.(map[string]any)
	if m == nil {
		return o, errors.New("notation options: want an object with trustPolicy and trustStores")
	}
	if w, ok := m["warnings"]; ok {
		ws, err := stringList(w)
		if err != nil {
			return o, fmt.Errorf("warnings: %w", err)
		}
		o.Warnings = append(o.Warnings, ws...)
	}
	o.Warnings = append(o.Warnings, unknownFields("notation options", m, optsFields)...)

	doc, warns, err := parseTrustPolicy(m["trustPolicy"])
	if err != nil {
		return o, fmt.Errorf("trustPolicy: %w", err)
	}
	o.TrustPolicy = doc
	o.Warnings = append(o.Warnings, warns...)

	stores, err := parseTrustStores(m["trustStores"])
	if err != nil {
		return o, fmt.Errorf("trustStores: %w", err)
	}
	o.TrustStores = stores
	for _, p := range doc.TrustPolicies {
		for _, s := range p.TrustStores {
			if _, ok := stores[s]; !ok {
				o.Warnings = append(o.Warnings, fmt.Sprintf("trust policy %q names trust store %q, which trustStores does not define", p.Name, s))
			}
		}
	}
	return o, nil
}

func normalise(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseTrustPolicy reads a trust policy document (or one policy
// statement) as notation.verify does, with notation-go's validation, so a
// controller can say a Verifier's trustPolicyDoc is wrong before any image
// is verified with it. The warnings name fields notation ignores.
func ParseTrustPolicy(v any) (*trustpolicy.Document, []string, error) {
	return parseTrustPolicy(v)
}

func parseTrustPolicy(v any) (*trustpolicy.Document, []string, error) {
	if s, ok := v.(string); ok {
		// The JSON text of a trust policy (as in a notation trustpolicy.json).
		var parsed any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&parsed); err != nil {
			return nil, nil, fmt.Errorf("not a JSON trust policy: %w", err)
		}
		v = parsed
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return nil, nil, errors.New("missing: want a trust policy document {version, trustPolicies} or one trust policy {name, registryScopes, ...}")
		}
		return nil, nil, fmt.Errorf("want an object, got %s", decl.TypeName(v))
	}
	var warns []string
	if _, isDoc := m["trustPolicies"]; isDoc {
		warns = append(warns, unknownFields("trustPolicy", m, documentFields)...)
		if ps, ok := m["trustPolicies"].([]any); ok {
			for i, p := range ps {
				if pm, ok := p.(map[string]any); ok {
					warns = append(warns, policyWarnings(fmt.Sprintf("trustPolicies[%d]", i), pm)...)
				}
			}
		}
	} else {
		// One policy statement, as in a single entry of trustPolicies.
		warns = append(warns, policyWarnings("trustPolicy", m)...)
		m = map[string]any{"version": "1.0", "trustPolicies": []any{m}}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	doc := &trustpolicy.Document{}
	if err := json.Unmarshal(b, doc); err != nil {
		return nil, nil, fmt.Errorf("does not have the shape of a trust policy document: %w", err)
	}
	normaliseRegistryScopes(doc)
	// notation-go's own validation, so messages match the notation CLI's.
	if err := doc.Validate(); err != nil {
		return nil, nil, err
	}
	return doc, warns, nil
}

// normaliseRegistryScopes rewrites registryScopes in the canonical spelling
// of references (oras.NormalizeScope: host lower-cased, no `:443`, Docker
// Hub's aliases as `docker.io`), because notation-go matches them by
// equality against the subject's `host/repo`, which is canonical. `*` and
// scopes that do not normalise are left for notation-go to judge.
func normaliseRegistryScopes(doc *trustpolicy.Document) {
	for i := range doc.TrustPolicies {
		scopes := doc.TrustPolicies[i].RegistryScopes
		for k, sc := range scopes {
			if sc == "*" {
				continue
			}
			if n, err := oras.NormalizeScope(sc); err == nil && !strings.Contains(n, "*") {
				scopes[k] = n
			}
		}
	}
}

func policyWarnings(where string, p map[string]any) []string {
	name, _ := p["name"].(string)
	if name != "" {
		where = fmt.Sprintf("trust policy %q", name)
	}
	warns := unknownFields(where, p, policyFields)
	if sv, ok := p["signatureVerification"].(map[string]any); ok {
		warns = append(warns, unknownFields(where+" signatureVerification", sv, sigVerFields)...)
	}
	return warns
}

func parseTrustStores(v any) (TrustStore, error) {
	stores := TrustStore{}
	if v == nil {
		return stores, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`want an object {"<type>:<name>": [certificates]}, got %s`, decl.TypeName(v))
	}
	for _, key := range sortedKeys(m) {
		typ, name, found := strings.Cut(key, ":")
		if !found || name == "" || !validStoreType(typ) {
			return nil, fmt.Errorf(`store %q: the key must be "<type>:<name>" with type ca, signingAuthority or tsa`, key)
		}
		entries, ok := m[key].([]any)
		if !ok {
			// Be lenient about a single certificate given without a list.
			entries = []any{m[key]}
		}
		var certs []*x509.Certificate
		for i, e := range entries {
			got, err := parseCertEntry(e)
			if err != nil {
				return nil, fmt.Errorf("store %q, certificate %d: %w", key, i, err)
			}
			certs = append(certs, got...)
		}
		stores[key] = certs
	}
	return stores, nil
}

// parseCertEntry decodes one kmp.certificates entry or PEM string; a
// disabled entry yields no certificate.
func parseCertEntry(e any) ([]*x509.Certificate, error) {
	label := ""
	var text string
	switch e := e.(type) {
	case string:
		text = e
	case map[string]any:
		if enabled, ok := e["enabled"].(bool); ok && !enabled {
			return nil, nil
		}
		if n, ok := e["name"].(string); ok && n != "" {
			label = fmt.Sprintf(" (%s)", n)
			if v, ok := e["version"].(string); ok && v != "" {
				label = fmt.Sprintf(" (%s@%s)", n, v)
			}
		}
		s, ok := e["pem"].(string)
		if !ok {
			return nil, fmt.Errorf("certificate object%s has no pem string", label)
		}
		text = s
	default:
		return nil, fmt.Errorf("want a PEM string or an object with a pem field, got %s", decl.TypeName(e))
	}
	certs, err := parsePEM(text)
	if err != nil && label != "" {
		return nil, fmt.Errorf("certificate%s: %w", label, err)
	}
	if err != nil {
		return nil, err
	}
	return certs, nil
}

// parsePEM decodes every CERTIFICATE block of text. Anything else (another
// block type, stray non-whitespace text) is an error: a trust anchor that
// silently goes missing is worse than a configuration error.
func parsePEM(text string) ([]*x509.Certificate, error) {
	rest := []byte(text)
	var certs []*x509.Certificate
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", len(certs)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid X.509 certificate: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(certs) == 0 {
			return nil, errors.New("not PEM: no -----BEGIN CERTIFICATE----- block found")
		}
		return nil, fmt.Errorf("unparsable text after PEM block %d", len(certs))
	}
	if len(certs) == 0 {
		return nil, errors.New("empty PEM: no certificate")
	}
	return certs, nil
}

// TrustStore implements notation-go's truststore.X509TrustStore over
// certificates given in opts, keyed "<type>:<name>", so nothing is read
// from the notation configuration directory.
type TrustStore map[string][]*x509.Certificate

var _ truststore.X509TrustStore = TrustStore(nil)

// GetCertificates returns the certificates of the named store, checked with
// the rules notation-go applies to its file-based stores.
func (ts TrustStore) GetCertificates(_ context.Context, storeType truststore.Type, name string) ([]*x509.Certificate, error) {
	key := string(storeType) + ":" + name
	certs, ok := ts[key]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %q is not defined in trustStores", key)}
	}
	if len(certs) == 0 {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %q has no enabled certificates", key)}
	}
	// As Ratify's trust store does, certificates that are neither a CA nor
	// self-signed (the leaf of the chain a Key Vault certificate's secret
	// holds) are left out; a store of nothing else fails as notation-go's do.
	if anchors := trustAnchors(certs); len(anchors) > 0 {
		certs = anchors
	}
	if err := truststore.ValidateCertificates(certs); err != nil {
		return nil, truststore.CertificateError{InnerError: err, Msg: fmt.Sprintf("trust store %q: %v", key, err)}
	}
	if storeType == truststore.TypeTSA {
		for _, c := range certs {
			if !bytes.Equal(c.RawSubject, c.RawIssuer) || c.CheckSignatureFrom(c) != nil {
				return nil, truststore.CertificateError{Msg: fmt.Sprintf("trust store %q: certificate %q is not a root CA certificate, as a tsa trust store requires", key, c.Subject)}
			}
		}
	}
	return append([]*x509.Certificate(nil), certs...), nil
}

// trustAnchors are the CA and self-signed certificates of certs.
func trustAnchors(certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c.IsCA || c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			out = append(out, c)
		}
	}
	return out
}

func validStoreType(t string) bool {
	return slices.Contains(truststore.Types, truststore.Type(t))
}

func unknownFields(where string, m map[string]any, known []string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		if !slices.Contains(known, k) {
			out = append(out, fmt.Sprintf("%s: unknown field %q ignored (known: %s)", where, k, strings.Join(known, ", ")))
		}
	}
	return out
}

func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("entry %d: want a string, got %s", i, decl.TypeName(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %s", decl.TypeName(v))
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
