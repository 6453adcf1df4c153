package kmp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// DefaultVersionHistoryLimit is how many versions of an object without a
// pinned version are trusted: the latest and the one before it, so that
// images signed just before a rotation still verify.
const DefaultVersionHistoryLimit = 2

// Sentinel errors of the azurekeyvault provider.
var (
	// ErrNotFetched: Keys or Certificates before a Refresh succeeded.
	ErrNotFetched = errors.New("not fetched from the vault yet")
	// ErrDisabled: a configured key or certificate version is disabled.
	// As Ratify's reference says, the provider then fails until the
	// reference is removed or the version enabled again.
	ErrDisabled = errors.New("disabled in the vault")
	// ErrUnsupportedKeyType: a key the verifiers cannot use (e.g. `oct`).
	ErrUnsupportedKeyType = errors.New("unsupported key type")
	// ErrNonExportable: a certificate whose key is not exportable has a
	// secret ratify cannot read the chain from.
	ErrNonExportable = errors.New("the certificate chain cannot be read from its secret")
)

// KeyVaultObject names a key or certificate of the vault; without a
// Version the latest is used (and, with history, the versions before it).
type KeyVaultObject struct {
	Name    string
	Version string
}

// AzureKeyVaultConfig is what an `azurekeyvault` provider is built from:
// the decoded parameters of the resource, and for tests or other clouds
// the credential and client options.
type AzureKeyVaultConfig struct {
	VaultURI     string
	TenantID     string
	ClientID     string
	Certificates []KeyVaultObject
	Keys         []KeyVaultObject
	// VersionHistoryLimit is how many versions of an object without a
	// pinned version are trusted, the latest included (enabled ones only);
	// 0 is DefaultVersionHistoryLimit, 1 is the latest only (Ratify's
	// behaviour).
	VersionHistoryLimit int

	// Credential authenticates to the vault. Nil is Azure workload
	// identity: ClientID and TenantID (else AZURE_CLIENT_ID and
	// AZURE_TENANT_ID), the token in AZURE_FEDERATED_TOKEN_FILE, the
	// authority in AZURE_AUTHORITY_HOST.
	Credential azcore.TokenCredential
	// ClientOptions are the Azure SDK's (transport, retries, cloud), for
	// the vault clients and the workload identity credential.
	ClientOptions *azcore.ClientOptions
	// DisableChallengeResourceVerification lets the vault's authentication
	// challenge name a resource that is not a suffix of the vault's host,
	// as some private clouds do.
	DisableChallengeResourceVerification bool

	// Observe, when set, is told how long each configured object took to
	// fetch and how it ended (the ratify_akv_certificate_duration metric).
	Observe func(d time.Duration, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// AzureKeyVault is the `azurekeyvault` key management provider: keys
// (azkeys) and certificate chains (the certificates' secrets, azsecrets) of
// one vault. Keys and Certificates never call the vault: they return what
// the last successful Refresh fetched.
type AzureKeyVault struct {
	ref     string
	vault   string
	certs   []KeyVaultObject
	keys    []KeyVaultObject
	limit   int
	observe func(time.Duration, error)
	log     *slog.Logger

	secretClient *azsecrets.Client
	keyClient    *azkeys.Client
	certClient   *azcertificates.Client

	refreshing sync.Mutex // one Refresh at a time

	mu        sync.RWMutex
	held      akvMaterial
	fetched   bool
	permanent error // the last Refresh failed permanently with it
	lastErr   error // the last failure, told while nothing was fetched yet
	version   string
}

// akvMaterial is what one successful Refresh fetched.
type akvMaterial struct {
	Keys  []Key         `json:"keys"`
	Certs []Certificate `json:"certificates"`
}

var _ Refresher = (*AzureKeyVault)(nil)

// NewAzureKeyVault builds the provider ref of cfg. It does not call the
// vault: the first Refresh does.
func NewAzureKeyVault(ref string, cfg AzureKeyVaultConfig) (*AzureKeyVault, error) {
	vault := strings.TrimSuffix(strings.TrimSpace(cfg.VaultURI), "/")
	u, err := url.Parse(vault)
	if vault == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("vaultURI %q: want the vault's https URI, such as https://myvault.vault.azure.net/", cfg.VaultURI)
	}
	if len(cfg.Certificates) == 0 && len(cfg.Keys) == 0 {
		return nil, errors.New("no certificates or keys to fetch from the vault")
	}
	if cfg.VersionHistoryLimit < 0 {
		return nil, fmt.Errorf("versionHistoryLimit %d: want at least 1", cfg.VersionHistoryLimit)
	}
	certs, err := objects("certificates", cfg.Certificates)
	if err != nil {
		return nil, err
	}
	keys, err := objects("keys", cfg.Keys)
	if err != nil {
		return nil, err
	}
	a := &AzureKeyVault{
		ref: ref, vault: vault, certs: certs, keys: keys,
		limit: cfg.VersionHistoryLimit, observe: cfg.Observe, log: cfg.Logger,
	}
	if a.limit == 0 {
		a.limit = DefaultVersionHistoryLimit
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("provider", ref, "vault", vault)
	var opts azcore.ClientOptions
	if cfg.ClientOptions != nil {
		opts = *cfg.ClientOptions
	}
	cred := cfg.Credential
	if cred == nil {
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: strings.TrimSpace(cfg.ClientID), TenantID: strings.TrimSpace(cfg.TenantID),
		})
		if err != nil {
			return nil, fmt.Errorf("azure workload identity: %w", err)
		}
	}
	disable := cfg.DisableChallengeResourceVerification
	if a.secretClient, err = azsecrets.NewClient(vault, cred, &azsecrets.ClientOptions{ClientOptions: opts, DisableChallengeResourceVerification: disable}); err != nil {
		return nil, fmt.Errorf("secrets client: %w", err)
	}
	if a.keyClient, err = azkeys.NewClient(vault, cred, &azkeys.ClientOptions{ClientOptions: opts, DisableChallengeResourceVerification: disable}); err != nil {
		return nil, fmt.Errorf("keys client: %w", err)
	}
	if a.certClient, err = azcertificates.NewClient(vault, cred, &azcertificates.ClientOptions{ClientOptions: opts, DisableChallengeResourceVerification: disable}); err != nil {
		return nil, fmt.Errorf("certificates client: %w", err)
	}
	return a, nil
}

// objects checks the configured objects and drops exact repeats.
func objects(field string, in []KeyVaultObject) ([]KeyVaultObject, error) {
	var out []KeyVaultObject
	for i, o := range in {
		o.Name, o.Version = strings.TrimSpace(o.Name), strings.TrimSpace(o.Version)
		if o.Name == "" {
			return nil, fmt.Errorf("%s[%d]: name is required", field, i)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// Keys returns the public keys of the last successful Refresh.
func (a *AzureKeyVault) Keys(context.Context) ([]Key, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.unavailable(); err != nil {
		return nil, err
	}
	return slices.Clone(a.held.Keys), nil
}

// Certificates returns the certificates of the last successful Refresh.
func (a *AzureKeyVault) Certificates(context.Context) ([]Certificate, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.unavailable(); err != nil {
		return nil, err
	}
	return slices.Clone(a.held.Certs), nil
}

func (a *AzureKeyVault) unavailable() error {
	switch {
	case a.permanent != nil:
		return a.permanent
	case a.fetched:
		return nil
	case a.lastErr != nil:
		return fmt.Errorf("%w; the last attempt failed: %w", ErrNotFetched, a.lastErr)
	}
	return fmt.Errorf("vault %s: %w", a.vault, ErrNotFetched)
}

// Version is a digest of the material held (or of the permanent error):
// it changes whenever what Keys and Certificates return changes.
func (a *AzureKeyVault) Version() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.version
}

// Refresh fetches every configured object from the vault. Nothing changes
// on a transient failure (it wraps ErrTransient); a permanent one replaces
// the material by the error, so nothing stale is trusted (fail closed).
func (a *AzureKeyVault) Refresh(ctx context.Context) error {
	a.refreshing.Lock()
	defer a.refreshing.Unlock()
	m, err := a.fetch(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	var tr transientError
	switch {
	case err == nil:
		a.held, a.fetched, a.permanent, a.lastErr = m, true, nil, nil
		a.version = digest(m)
		return nil
	case errors.As(err, &tr):
		err = fmt.Errorf("%w: vault %s: %w", ErrTransient, a.vault, tr.err)
		a.lastErr = err
		return err
	}
	err = fmt.Errorf("vault %s: %w", a.vault, err)
	a.held, a.fetched, a.permanent, a.lastErr = akvMaterial{}, false, err, err
	a.version = digest(err.Error())
	return err
}

func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// fetch reads every object. A permanent failure of any object fails the
// whole provider (its configuration or the vault must change); otherwise a
// transient one does.
func (a *AzureKeyVault) fetch(ctx context.Context) (akvMaterial, error) {
	var (
		m                     akvMaterial
		permanent, transients []error
	)
	note := func(err error) {
		if isTransient(err) {
			transients = append(transients, err)
		} else {
			permanent = append(permanent, err)
		}
	}
	for _, o := range a.keys {
		start := time.Now()
		keys, err := a.fetchKey(ctx, o)
		a.observed(start, err)
		if err != nil {
			note(err)
			continue
		}
		m.Keys = appendNew(m.Keys, keys, func(k Key) string { return k.Name + "/" + k.Version })
	}
	for _, o := range a.certs {
		start := time.Now()
		certs, err := a.fetchCertificate(ctx, o)
		a.observed(start, err)
		if err != nil {
			note(err)
			continue
		}
		m.Certs = appendNew(m.Certs, certs, func(c Certificate) string { return c.Name + "/" + c.Version + "/" + c.PEM })
	}
	switch {
	case len(permanent) > 0:
		return akvMaterial{}, errors.Join(permanent...)
	case len(transients) > 0:
		return akvMaterial{}, transientError{errors.Join(transients...)}
	}
	return m, nil
}

func (a *AzureKeyVault) observed(start time.Time, err error) {
	if a.observe != nil {
		a.observe(time.Since(start), err)
	}
}

// appendNew appends the items of add whose id is not in out yet: a
// version both pinned and latest is listed once.
func appendNew[T any](out, add []T, id func(T) string) []T {
	for _, it := range add {
		if !slices.ContainsFunc(out, func(o T) bool { return id(o) == id(it) }) {
			out = append(out, it)
		}
	}
	return out
}
