package v1beta1

import (
	"strings"
	"time"
)

// Store names (spec.name).
const (
	// StoreOras is a registry.
	StoreOras = "oras"
	// StoreOCILayout is an OCI-layout directory.
	StoreOCILayout = "oci-layout"
)

// Auth provider names (spec.parameters.authProvider.name).
const (
	AuthProviderDockerConfig = "dockerConfig"
	AuthProviderStatic       = "static"
	AuthProviderAnonymous    = "anonymous"
	// AuthProviderAzureWorkloadIdentity and AuthProviderAzureManagedIdentity
	// exchange an Entra ID token for ACR credentials (clientID, endpoints,
	// disableInstanceDiscovery).
	AuthProviderAzureWorkloadIdentity = "azureWorkloadIdentity"
	AuthProviderAzureManagedIdentity  = "azureManagedIdentity"
)

// laterAuthProviders are Ratify's other providers: a Store naming one loads
// (registries that ask for credentials then get an error saying what is
// missing), so they validate.
var laterAuthProviders = []string{"k8Secrets", "awsEcrBasic"}

// StoreParameters are the spec.parameters of a Store named `oras`, as
// Ratify defines them, and of one named `oci-layout` (`path`, `scopes`).
//
// Credentials are bound to the registry hosts they are configured for:
// `authProvider.hosts` lists them (`host[:port]`, or `*.domain` for every
// subdomain of domain); without it, the hosts of `scopes` (`host/repo`,
// `host/*`) are used. Any other registry is accessed anonymously, even when
// the store serves it as the fallback store without scopes. The `static`
// provider needs one of the two; `dockerConfig` is keyed by host already
// and is additionally bound when either is given.
//
// +kubebuilder:object:generate=false
type StoreParameters struct {
	CosignEnabled bool `json:"cosignEnabled,omitempty"`
	UseHTTP       bool `json:"useHttp,omitempty"`
	// CAFile is a PEM bundle of extra trusted registry CAs.
	CAFile       string                  `json:"caFile,omitempty"`
	AuthProvider *AuthProviderParameters `json:"authProvider,omitempty"`
	// ReferrersCacheTTL is a Go duration ("10s"); "0s" disables the cache.
	ReferrersCacheTTL string `json:"referrersCacheTTL,omitempty"`
	// LocalCachePath is Ratify's on-disk blob cache; accepted and unused
	// (blobs are cached in memory).
	LocalCachePath string `json:"localCachePath,omitempty"`

	// Path is the directory of an oci-layout store.
	Path string `json:"path,omitempty"`
	// Scopes limit the references the store serves; their hosts also bind
	// the store's credentials when authProvider.hosts is not given.
	Scopes []string `json:"scopes,omitempty"`
}

// AuthProviderParameters select an auth provider by Ratify's names, with
// the settings of each.
//
// +kubebuilder:object:generate=false
type AuthProviderParameters struct {
	Name string `json:"name"`
	// ConfigPath is a docker config.json (dockerConfig); default as docker.
	ConfigPath string `json:"configPath,omitempty"`
	// Username and Password are for the static provider.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Hosts are the registries the credentials are for: `host[:port]`
	// (compared case-insensitively, `:443` implied, Docker Hub's aliases as
	// `docker.io`) or `*.domain[:port]` for every subdomain of domain. When
	// empty, the hosts of the store's scopes are used. Every other registry
	// gets no credentials.
	Hosts []string `json:"hosts,omitempty"`

	// ClientID is the Azure providers' identity: the client ID of the
	// workload identity (default $AZURE_CLIENT_ID), or of a user-assigned
	// managed identity (none: the system-assigned one).
	ClientID string `json:"clientID,omitempty"`
	// Endpoints are the registry hosts the Azure providers give ACR
	// credentials to, in place of *.azurecr.io, *.azurecr.us and
	// *.azurecr.cn (Ratify's chart value
	// oras.authProviders.azureContainerRegistryEndpoints).
	Endpoints []string `json:"endpoints,omitempty"`
	// DisableInstanceDiscovery skips Entra ID's instance discovery, which
	// azureWorkloadIdentity otherwise asks of the public cloud's login
	// host for an AZURE_AUTHORITY_HOST it does not know: for private and
	// disconnected clouds. Off by default.
	DisableInstanceDiscovery bool `json:"disableInstanceDiscovery,omitempty"`

	// Settings of Ratify's k8Secrets provider, accepted so its Stores load.
	ServiceAccountName string            `json:"serviceAccountName,omitempty"`
	Secrets            []AuthSecretParam `json:"secrets,omitempty"`
}

// AuthSecretParam is one image pull secret of the k8Secrets provider.
//
// +kubebuilder:object:generate=false
type AuthSecretParam struct {
	SecretName string `json:"secretName"`
	Namespace  string `json:"namespace,omitempty"`
}

// Validate checks what does not depend on the registries: the duration
// and the auth provider's name and required settings. Which hosts
// credentials may go to is checked where the provider is built.
func (p StoreParameters) Validate() error {
	var ps problems
	if p.ReferrersCacheTTL != "" {
		if _, err := time.ParseDuration(p.ReferrersCacheTTL); err != nil {
			ps.add("%s.referrersCacheTTL: %v", paramsPath, err)
		}
	}
	if a := p.AuthProvider; a != nil {
		switch a.Name {
		case "", AuthProviderDockerConfig, AuthProviderAnonymous, AuthProviderAzureWorkloadIdentity, AuthProviderAzureManagedIdentity:
		case AuthProviderStatic:
			if a.Username == "" {
				ps.add("%s.authProvider.username is required for the %s provider", paramsPath, AuthProviderStatic)
			}
		default:
			if !contains(laterAuthProviders, a.Name) {
				ps.add("%s.authProvider.name: unknown authProvider %q (supported: %s)", paramsPath, a.Name,
					strings.Join([]string{AuthProviderDockerConfig, AuthProviderStatic, AuthProviderAnonymous,
						AuthProviderAzureWorkloadIdentity, AuthProviderAzureManagedIdentity}, ", "))
			}
		}
	}
	return ps.err()
}

// StoreParameters decodes spec.parameters (see DecodeParameters); the
// same for both store names.
func (s StoreSpec) StoreParameters() (StoreParameters, []string, error) {
	return DecodeParameters[StoreParameters](s.Parameters)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
