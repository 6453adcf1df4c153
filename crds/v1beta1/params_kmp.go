package v1beta1

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key management provider types (spec.type of a KeyManagementProvider,
// spec.provider of a CertificateStore).
const (
	KMPInline        = "inline"
	KMPAzureKeyVault = "azurekeyvault"
)

// Content types of the inline provider.
const (
	ContentKey         = "key"
	ContentCertificate = "certificate"
)

// InlineParameters are the spec.parameters of an `inline`
// KeyManagementProvider: keys or certificates as PEM text.
//
// +kubebuilder:object:generate=false
type InlineParameters struct {
	// ContentType is `key` or `certificate`.
	ContentType string `json:"contentType"`
	// Value is one or more PEM blocks.
	Value string `json:"value"`
}

// Validate checks that the content type is known and a value is given.
func (p InlineParameters) Validate() error {
	var ps problems
	switch p.ContentType {
	case ContentKey, ContentCertificate:
	case "":
		ps.add("%s.contentType is required: %q or %q", paramsPath, ContentKey, ContentCertificate)
	default:
		ps.add("%s.contentType %q: want %q or %q", paramsPath, p.ContentType, ContentKey, ContentCertificate)
	}
	if strings.TrimSpace(p.Value) == "" {
		ps.add("%s.value is empty: give the PEM text of the %ss", paramsPath, contentNoun(p.ContentType))
	}
	return ps.err()
}

func contentNoun(contentType string) string {
	if contentType == ContentKey || contentType == ContentCertificate {
		return contentType
	}
	return "key or certificate"
}

// AzureKeyVaultParameters are the spec.parameters of an `azurekeyvault`
// KeyManagementProvider, as in Ratify's Key Management Provider reference.
// The refresh interval is the spec's refreshInterval, beside parameters.
//
// +kubebuilder:object:generate=false
type AzureKeyVaultParameters struct {
	VaultURI string `json:"vaultURI"`
	TenantID string `json:"tenantID"`
	// ClientID is the identity used to access the vault.
	ClientID string `json:"clientID"`
	// Resource is the vault's token audience (Ratify's optional setting).
	Resource     string          `json:"resource,omitempty"`
	Certificates []KeyVaultValue `json:"certificates,omitempty"`
	Keys         []KeyVaultValue `json:"keys,omitempty"`
	// VersionHistoryLimit is how many versions of a certificate or key
	// without a pinned version are trusted, the latest included, so that
	// what was signed just before a rotation still verifies: the enabled
	// ones among the newest versions. Default
	// DefaultVersionHistoryLimit; 1 trusts the latest only, as Ratify does.
	VersionHistoryLimit *int `json:"versionHistoryLimit,omitempty"`
	// DisableChallengeResourceVerification accepts a vault whose
	// authentication challenge names a resource its host does not end in,
	// as some private clouds do. Leave it off elsewhere: the check keeps a
	// look-alike host from receiving a token for the vault.
	DisableChallengeResourceVerification bool `json:"disableChallengeResourceVerification,omitempty"`
}

// DefaultVersionHistoryLimit is the versionHistoryLimit when none is given:
// the latest version and the one before it.
const DefaultVersionHistoryLimit = 2

// HistoryLimit is the versionHistoryLimit in force.
func (p AzureKeyVaultParameters) HistoryLimit() int {
	if p.VersionHistoryLimit == nil {
		return DefaultVersionHistoryLimit
	}
	return *p.VersionHistoryLimit
}

// KeyVaultValue names a certificate or key of the vault; without a version
// the latest is used.
//
// +kubebuilder:object:generate=false
type KeyVaultValue struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Validate checks Ratify's rules: the vault, tenant and identity are
// required, something must be fetched, and every item has a name; and
// ratify's: a versionHistoryLimit given is at least 1.
func (p AzureKeyVaultParameters) Validate() error {
	var ps problems
	for _, f := range []struct{ name, value string }{
		{"vaultURI", p.VaultURI}, {"tenantID", p.TenantID}, {"clientID", p.ClientID},
	} {
		if strings.TrimSpace(f.value) == "" {
			ps.add("%s.%s is required", paramsPath, f.name)
		}
	}
	if len(p.Certificates) == 0 && len(p.Keys) == 0 {
		ps.add("%s: give certificates or keys to fetch from the vault", paramsPath)
	}
	for i, c := range p.Certificates {
		if c.Name == "" {
			ps.add("%s.certificates[%d].name is required", paramsPath, i)
		}
	}
	for i, k := range p.Keys {
		if k.Name == "" {
			ps.add("%s.keys[%d].name is required", paramsPath, i)
		}
	}
	if p.VersionHistoryLimit != nil && *p.VersionHistoryLimit < 1 {
		ps.add("%s.versionHistoryLimit %d: want at least 1 (1 trusts the latest version only)", paramsPath, *p.VersionHistoryLimit)
	}
	return ps.err()
}

// kmpParameterTypes decodes the parameters of each KeyManagementProvider
// type ratify knows: a new type adds its parameter type above and a line
// here.
var kmpParameterTypes = map[string]func(KeyManagementProviderSpec) (any, []string, error){
	KMPInline:        anyParameters(KeyManagementProviderSpec.InlineParameters),
	KMPAzureKeyVault: anyParameters(KeyManagementProviderSpec.AzureKeyVaultParameters),
}

// anyParameters adapts a typed parameter decoder to kmpParameterTypes.
func anyParameters[S any, T any](decode func(S) (T, []string, error)) func(S) (any, []string, error) {
	return func(s S) (any, []string, error) {
		p, warnings, err := decode(s)
		return p, warnings, err
	}
}

// InlineParameters decodes spec.parameters of an inline provider.
func (s KeyManagementProviderSpec) InlineParameters() (InlineParameters, []string, error) {
	return DecodeParameters[InlineParameters](s.Parameters)
}

// AzureKeyVaultParameters decodes spec.parameters of an azurekeyvault
// provider, and checks spec.refreshInterval, which only refreshable
// providers use.
func (s KeyManagementProviderSpec) AzureKeyVaultParameters() (AzureKeyVaultParameters, []string, error) {
	p, warnings, err := DecodeParameters[AzureKeyVaultParameters](s.Parameters)
	if s.RefreshInterval == "" || errors.Is(err, ErrMalformedParameters) {
		return p, warnings, err
	}
	if _, derr := time.ParseDuration(s.RefreshInterval); derr != nil {
		var ps Problems
		EachProblem(err, func(e error) { ps = append(ps, e) })
		ps = append(ps, fmt.Errorf("spec.refreshInterval: %v", derr))
		err = ps
	}
	return p, warnings, err
}

// CertificateStoreParameters are the spec.parameters of the deprecated
// CertificateStore of provider `inline`: certificates as PEM text.
//
// +kubebuilder:object:generate=false
type CertificateStoreParameters struct {
	Value string `json:"value"`
}

// Validate checks that a value is given.
func (p CertificateStoreParameters) Validate() error {
	var ps problems
	if strings.TrimSpace(p.Value) == "" {
		ps.add("%s.value is empty: give the PEM text of the certificates", paramsPath)
	}
	return ps.err()
}

// InlineParameters decodes spec.parameters of an inline CertificateStore.
func (s CertificateStoreSpec) InlineParameters() (CertificateStoreParameters, []string, error) {
	return DecodeParameters[CertificateStoreParameters](s.Parameters)
}
