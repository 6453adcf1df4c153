package v1beta1

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Verifier names (spec.name, or spec.type in Ratify v1.2's spelling).
const (
	VerifierNotation = "notation"
	VerifierCosign   = "cosign"
)

// NotationParameters are the spec.parameters of a notation Verifier, as in
// Ratify.
//
// +kubebuilder:object:generate=false
type NotationParameters struct {
	// VerificationCertStores maps trust stores to key management providers,
	// flat (`certs: [kmp]`, the store's type taken from the trust policy)
	// or nested (`ca: {certs: [kmp]}`); each entry is read by TrustStores.
	VerificationCertStores map[string]json.RawMessage `json:"verificationCertStores,omitempty"`
	// TrustPolicyDoc is a Notary Project trust policy document, passed to
	// notation as written.
	TrustPolicyDoc json.RawMessage `json:"trustPolicyDoc,omitempty"`
	// Certs is where the "Ratify on Azure" guide's YAML puts the store list
	// by mistake: beside verificationCertStores instead of under it. It is
	// read as verificationCertStores when those are empty.
	Certs json.RawMessage `json:"certs,omitempty"`
	// VerificationCerts are Ratify's legacy certificate directories;
	// accepted and unused (certificates come from key management providers).
	VerificationCerts []string `json:"verificationCerts,omitempty"`
}

// trustStoreTypes are notation's trust store types.
var trustStoreTypes = map[string]bool{"ca": true, "signingAuthority": true, "tsa": true}

// Validate checks that a trust policy document is given and that each
// verificationCertStores entry has one of the two forms.
func (p NotationParameters) Validate() error {
	var ps problems
	if isNull(p.TrustPolicyDoc) {
		ps.add("%s.trustPolicyDoc is required", paramsPath)
	}
	stores := p.VerificationCertStores
	field := "verificationCertStores"
	if len(stores) == 0 && !isNull(p.Certs) {
		stores, field = map[string]json.RawMessage{"certs": p.Certs}, "certs"
	}
	for _, key := range sortedRawKeys(stores) {
		if !validCertStore(key, stores[key]) {
			path := paramsPath + "." + field + "." + key
			if field == "certs" {
				path = paramsPath + ".certs"
			}
			ps.add("%s: want a list of key management providers, or one of ca, signingAuthority, tsa mapping store names to such lists", path)
		}
	}
	return ps.err()
}

// validCertStore: a list of providers (flat), or a trust store type
// mapping store names to lists (nested).
func validCertStore(key string, raw json.RawMessage) bool {
	var refs []string
	if json.Unmarshal(raw, &refs) == nil {
		return true
	}
	var nested map[string][]string
	return trustStoreTypes[key] && json.Unmarshal(raw, &nested) == nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func sortedRawKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CosignParameters are the spec.parameters of a cosign Verifier, as in
// Ratify: trust policies choosing keys by image scope.
//
// +kubebuilder:object:generate=false
type CosignParameters struct {
	TrustPolicies []CosignTrustPolicy `json:"trustPolicies,omitempty"`
	// Key is Ratify's legacy key file, without trust policies; not
	// supported (keys come from key management providers).
	Key string `json:"key,omitempty"`
	// RekorURL is Ratify's transparency log address; accepted and unused.
	RekorURL string `json:"rekorURL,omitempty"`
}

// CosignTrustPolicy selects the keys for the images of its scopes.
//
// +kubebuilder:object:generate=false
type CosignTrustPolicy struct {
	// Version of the trust policy schema (Ratify: "1.0.0"); accepted.
	Version string      `json:"version,omitempty"`
	Name    string      `json:"name"`
	Scopes  []string    `json:"scopes"`
	Keys    []CosignKey `json:"keys,omitempty"`
	// Keyless is Sigstore keyless verification; not supported yet.
	Keyless    *CosignKeyless `json:"keyless,omitempty"`
	TLogVerify *bool          `json:"tLogVerify,omitempty"`
	// RekorURL is the trust policy's transparency log; accepted and unused.
	RekorURL string `json:"rekorURL,omitempty"`
}

// CosignKey is a key of a key management provider, optionally one name
// and version of it.
//
// +kubebuilder:object:generate=false
type CosignKey struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	// File is Ratify's key file path; not supported.
	File string `json:"file,omitempty"`
}

// CosignKeyless is Ratify's keyless configuration.
//
// +kubebuilder:object:generate=false
type CosignKeyless struct {
	CTLogVerify                 *bool  `json:"ctLogVerify,omitempty"`
	CertificateIdentity         string `json:"certificateIdentity,omitempty"`
	CertificateIdentityRegExp   string `json:"certificateIdentityRegExp,omitempty"`
	CertificateOIDCIssuer       string `json:"certificateOIDCIssuer,omitempty"`
	CertificateOIDCIssuerRegExp string `json:"certificateOIDCIssuerRegExp,omitempty"`
}

// Validate checks what the policy compiler needs: trust policies, each with
// keys of a key management provider. (Scopes are checked, once normalised,
// where they are compiled.)
func (p CosignParameters) Validate() error {
	var ps problems
	if len(p.TrustPolicies) == 0 {
		if p.Key != "" {
			ps.add("%s.trustPolicies is required: a key file (%s.key) is not supported; give trust policies whose keys come from a KeyManagementProvider", paramsPath, paramsPath)
		} else {
			ps.add("%s.trustPolicies is required", paramsPath)
		}
	}
	for i, tp := range p.TrustPolicies {
		at := func(field string) string { return fmt.Sprintf("%s.trustPolicies[%d]%s", paramsPath, i, field) }
		if tp.Keyless != nil {
			ps.add("%s: trust policy %q: keyless verification is not supported yet", at(".keyless"), tp.Name)
		}
		if len(tp.Keys) == 0 {
			ps.add("%s: trust policy %q has no keys", at(".keys"), tp.Name)
		}
		for j, k := range tp.Keys {
			switch {
			case k.File != "":
				ps.add("%s: trust policy %q: key files are not supported; give the key's KeyManagementProvider as provider", at(fmt.Sprintf(".keys[%d].file", j)), tp.Name)
			case k.Provider == "":
				ps.add("%s is required (trust policy %q)", at(fmt.Sprintf(".keys[%d].provider", j)), tp.Name)
			}
		}
	}
	return ps.err()
}

// NotationParameters decodes spec.parameters of a notation Verifier.
func (s VerifierSpec) NotationParameters() (NotationParameters, []string, error) {
	return DecodeParameters[NotationParameters](s.Parameters)
}

// CosignParameters decodes spec.parameters of a cosign Verifier.
func (s VerifierSpec) CosignParameters() (CosignParameters, []string, error) {
	return DecodeParameters[CosignParameters](s.Parameters)
}

// VerifierType is the verifier's name: spec.type, else spec.name.
func (s VerifierSpec) VerifierType() string {
	if s.Type != "" {
		return s.Type
	}
	return s.Name
}
