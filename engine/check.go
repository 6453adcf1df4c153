package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/notation"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// The checks of one resource on its own, as the engine builds it: what a
// controller writes in the resource's status. They never reach a registry;
// a key management provider's keys are fetched, as the engine would fetch
// them at its first use.

// Material is what a key management provider holds: its keys and
// certificates (public material only).
type Material struct {
	Keys         []kmp.Key
	Certificates []kmp.Certificate
	// Notes name settings in effect that relax a default check, so the
	// resource's status says so.
	Notes []string
}

// CheckKeyManagementProvider builds the provider of one
// KeyManagementProvider (namespace "") or NamespacedKeyManagementProvider
// on s, or refreshes it when s has it already (a provider that fetches
// from a service is fetched again: the controllers call this every
// refreshInterval), and returns what it holds. Engines that s builds use
// the same provider, with the material fetched here.
func (s *Shared) CheckKeyManagementProvider(ctx context.Context, namespace, name string, spec v1beta1.KeyManagementProviderSpec) (Material, error) {
	ref := kmp.Ref(namespace, name)
	build, ok := kmpTypes[spec.Type]
	if !ok {
		reg := kmp.NewRegistry()
		if err := addKMP(ctx, reg, namespace, name, spec, nil, s.opts.Providers); err != nil {
			return Material{}, err
		}
		return fetch(ctx, reg, ref, namespace)
	}
	p, err := s.providers.refresh(ctx, ref, spec, func() (kmp.Provider, error) { return build(ref, spec, s.opts.Providers) })
	if err != nil {
		return Material{}, err
	}
	reg := kmp.NewRegistry()
	if err := reg.AddProvider(namespace, name, p); err != nil {
		return Material{}, err
	}
	m, err := fetch(ctx, reg, ref, namespace)
	if spec.Type == v1beta1.KMPAzureKeyVault {
		if akv, _, perr := spec.AzureKeyVaultParameters(); perr == nil && akv.DisableChallengeResourceVerification {
			m.Notes = append(m.Notes, "disableChallengeResourceVerification is on: the vault's authentication challenge may name a resource its host does not end in")
		}
	}
	return m, err
}

// CheckCertificateStore builds the provider of a deprecated
// CertificateStore and fetches its certificates. (Inline only: it needs
// nothing of s, and is a method so that Shared is a controller's checker.)
func (s *Shared) CheckCertificateStore(ctx context.Context, namespace, name string, spec v1beta1.CertificateStoreSpec) (Material, error) {
	p, err := certificateStore(name, spec)
	if err != nil {
		return Material{}, err
	}
	reg := kmp.NewRegistry()
	if err := reg.AddProvider(namespace, name, p); err != nil {
		return Material{}, err
	}
	return fetch(ctx, reg, kmp.Ref(namespace, name), namespace)
}

func fetch(ctx context.Context, reg *kmp.Registry, ref, scope string) (Material, error) {
	var (
		m   Material
		err error
	)
	if m.Keys, err = reg.Keys(ctx, ref, scope); err != nil {
		return Material{}, err
	}
	if m.Certificates, err = reg.Certificates(ctx, ref, scope); err != nil {
		return Material{}, err
	}
	return m, nil
}

// StoreError is what the serving engine observed of the Store named name
// since its configuration was built: the failed token exchanges of its
// auth provider (each with its registry and time), nil when there are
// none. Unlike the checks, this is the store in use, not a new build.
func (s *Shared) StoreError(name string) error {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.AuthError(name)
}

// CheckStore builds the store configuration of one Store.
func CheckStore(s v1beta1.Store) error {
	_, err := config.StoreConfig(s)
	return err
}

// CheckVerifier decodes and validates a Verifier's parameters.
func CheckVerifier(spec v1beta1.VerifierSpec) error {
	switch t := spec.VerifierType(); t {
	case v1beta1.VerifierNotation:
		p, _, err := spec.NotationParameters()
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(p.TrustPolicyDoc, &doc); err != nil {
			return fmt.Errorf("spec.parameters.trustPolicyDoc: %w", err)
		}
		if _, _, err := notation.ParseTrustPolicy(doc); err != nil {
			return fmt.Errorf("spec.parameters.trustPolicyDoc: %w", err)
		}
		return nil
	case v1beta1.VerifierCosign:
		_, _, err := spec.CosignParameters()
		return err
	default:
		return fmt.Errorf("unknown verifier %q (supported: %s, %s)", t, v1beta1.VerifierNotation, v1beta1.VerifierCosign)
	}
}

// CheckPolicy compiles a Policy or NamespacedPolicy (scope: its
// namespace) on its own, with no Verifiers: its parameters, and its Rego
// or CEL.
func CheckPolicy(ctx context.Context, name, scope string, spec v1beta1.PolicySpec) error {
	if name != v1beta1.ClusterPolicyName {
		return fmt.Errorf("a policy must be named %s to be in force; this one is ignored", v1beta1.ClusterPolicyName)
	}
	_, err := fromSpec(ctx, name, scope, &spec, nil)
	return err
}
