// Package kmp is the key management provider registry behind the
// `kmp.keys(provider)` and `kmp.certificates(provider)` builtins: providers
// built from KeyManagementProvider resources (and the deprecated
// CertificateStore), looked up by `name` (cluster-wide) or `namespace/name`
// (namespaced) with the KMP document's visibility rules.
package kmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors.
var (
	ErrUnknownProvider = errors.New("unknown key management provider")
	ErrNotVisible      = errors.New("key management provider not visible")
	ErrBadContent      = errors.New("bad key or certificate content")
	ErrUnsupportedType = errors.New("unsupported key management provider type")
	// ErrDuplicate means two resources claim the same provider name: a
	// configuration error, never a silent overwrite (a tenant's resource
	// must not replace the cluster's provider).
	ErrDuplicate = errors.New("duplicate key management provider")
)

// Key is one public key, as `kmp.keys` returns it.
type Key struct {
	Provider  string `json:"provider"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Enabled   bool   `json:"enabled"`
	Algorithm string `json:"algorithm"`
	PEM       string `json:"pem"`
}

// Certificate is one certificate, as `kmp.certificates` returns it.
type Certificate struct {
	Provider string    `json:"provider"`
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Enabled  bool      `json:"enabled"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"notAfter"`
	PEM      string    `json:"pem"`
}

// Provider supplies keys and certificates.
type Provider interface {
	Keys(ctx context.Context) ([]Key, error)
	Certificates(ctx context.Context) ([]Certificate, error)
}

// Refresher is a provider whose material comes from a service.
type Refresher interface {
	Provider
	// Refresh fetches the material now. A transient failure (5xx, 429, timeout) keeps the last good material and returns an error wrapping ErrTransient; a permanent one (disabled, not found, forbidden, unsupported key type) makes Keys/Certificates fail with it until a later Refresh succeeds.
	Refresh(ctx context.Context) error
	// Version changes whenever the material held changes (e.g. a digest of it).
	Version() string
}

// ErrTransient marks a Refresh failure that may pass by itself (throttling,
// a server error, a timeout): the provider keeps its last good material.
var ErrTransient = errors.New("transient key management provider failure")

// Registry holds the configured providers. It is immutable once built, so
// evaluations can share it without locks.
type Registry struct {
	providers map[string]Provider // by reference: `name` or `namespace/name`
	warnings  []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{providers: map[string]Provider{}}
}

// AddProvider registers a ready provider; a name already taken is
// ErrDuplicate and leaves the registered provider in place.
func (r *Registry) AddProvider(namespace, name string, p Provider) error {
	ref := Ref(namespace, name)
	if _, dup := r.providers[ref]; dup {
		return fmt.Errorf("%w %q: another resource already provides it", ErrDuplicate, ref)
	}
	r.providers[ref] = p
	return nil
}

// Warn records a configuration warning (e.g. a deprecated kind).
func (r *Registry) Warn(msg string) { r.warnings = append(r.warnings, msg) }

// Warnings are the configuration warnings recorded while building.
func (r *Registry) Warnings() []string { return r.warnings }

// Ref is how a provider is named in policy.
func Ref(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// Lookup finds the provider ref names for a policy of the given scope:
// scope "" is a cluster-wide policy, which sees only cluster-wide providers;
// a namespaced policy sees its own namespace's providers and the cluster's.
func (r *Registry) Lookup(ref, scope string) (Provider, error) {
	ns, _, namespaced := strings.Cut(ref, "/")
	if namespaced && ns != scope {
		if scope == "" {
			return nil, fmt.Errorf("%w: %q is namespaced; a cluster-wide policy or verifier can only use cluster-wide providers", ErrNotVisible, ref)
		}
		return nil, fmt.Errorf("%w: %q belongs to namespace %q; a policy of namespace %q can use its own namespace's providers and cluster-wide ones", ErrNotVisible, ref, ns, scope)
	}
	if ref == "" {
		return nil, fmt.Errorf("%w: empty name", ErrUnknownProvider)
	}
	p, ok := r.providers[ref]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProvider, ref)
	}
	return p, nil
}

// Keys returns the keys of the provider ref, as seen from scope.
func (r *Registry) Keys(ctx context.Context, ref, scope string) ([]Key, error) {
	p, err := r.Lookup(ref, scope)
	if err != nil {
		return nil, err
	}
	return p.Keys(ctx)
}

// Certificates returns the certificates of the provider ref, as seen from scope.
func (r *Registry) Certificates(ctx context.Context, ref, scope string) ([]Certificate, error) {
	p, err := r.Lookup(ref, scope)
	if err != nil {
		return nil, err
	}
	return p.Certificates(ctx)
}

// failed is a provider that could not be built.
type failed struct{ err error }

func (f failed) Keys(context.Context) ([]Key, error)                 { return nil, f.err }
func (f failed) Certificates(context.Context) ([]Certificate, error) { return nil, f.err }

// Failing is a provider whose every call fails with err.
func Failing(err error) Provider { return failed{err} }

// Each calls f with every registered provider and its reference.
func (r *Registry) Each(f func(ref string, p Provider)) {
	for ref, p := range r.providers {
		f(ref, p)
	}
}
