package controller

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
)

// errNamespacedStore is the status of every NamespacedStore.
var errNamespacedStore = errors.New("NamespacedStore is not supported yet: signatures are read through cluster Stores; use a Store")

// minRefreshInterval is the shortest time between two fetches of a
// provider's keys that a refreshInterval can ask for.
const minRefreshInterval = time.Minute

// kind is what the controller knows of one resource kind.
type kind struct {
	name    string
	newObj  func() client.Object
	newList func() client.ObjectList
	// check checks one resource on its own; key management providers also
	// return what they hold.
	check func(ctx context.Context, obj client.Object) (*engine.Material, error)
	// status points at the resource's status fields.
	status func(obj client.Object) statusFields
	// refresh is how often the resource is checked again (0: only when it
	// changes).
	refresh func(obj client.Object) time.Duration
	// refs are the key management providers a Verifier names.
	refs func(obj client.Object) []string
	// observed is what the engine saw of a resource in use (a Store's
	// failed token exchanges): its status error while not nil.
	observed func(name string) error
}

// statusFields points at a resource's status; fetched and properties are
// nil for kinds that have none.
type statusFields struct {
	ok         *bool
	err, brief *string
	fetched    **metav1.Time
	properties *runtime.RawExtension
}

func plainStatus(ok *bool, err, brief *string) statusFields {
	return statusFields{ok: ok, err: err, brief: brief}
}

// Checker checks key management providers and CertificateStores on the
// engine's long-lived state, so the material a check fetched is the one the
// engine uses (*engine.Shared).
type Checker interface {
	CheckKeyManagementProvider(ctx context.Context, namespace, name string, spec v1beta1.KeyManagementProviderSpec) (engine.Material, error)
	CheckCertificateStore(ctx context.Context, namespace, name string, spec v1beta1.CertificateStoreSpec) (engine.Material, error)
	// StoreError is what the serving engine observed of a Store in use.
	StoreError(name string) error
}

// kinds are every kind ratify watches, in the order they are listed at
// start: providers before the verifiers that name them.
func kinds(ch Checker) []*kind {
	kmpCheck := func(ns string) func(ctx context.Context, name string, spec v1beta1.KeyManagementProviderSpec) (*engine.Material, error) {
		return func(ctx context.Context, name string, spec v1beta1.KeyManagementProviderSpec) (*engine.Material, error) {
			m, err := ch.CheckKeyManagementProvider(ctx, ns, name, spec)
			return &m, err
		}
	}
	kmpRefresh := func(spec v1beta1.KeyManagementProviderSpec) time.Duration {
		if spec.Type == v1beta1.KMPInline {
			return 0 // static
		}
		d, _ := time.ParseDuration(spec.RefreshInterval)
		if d > 0 && d < minRefreshInterval {
			// A tenant's provider must not keep ratify's identity busy
			// (and throttled for everyone) with its vault.
			d = minRefreshInterval
		}
		return d
	}
	return []*kind{
		{
			name:    "Store",
			newObj:  func() client.Object { return &v1beta1.Store{} },
			newList: func() client.ObjectList { return &v1beta1.StoreList{} },
			check: func(_ context.Context, o client.Object) (*engine.Material, error) {
				return nil, engine.CheckStore(*o.(*v1beta1.Store))
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.Store).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
			observed: func(name string) error { return ch.StoreError(name) },
		},
		{
			// Accepted so that Ratify's YAML applies, and said to be unused:
			// the engine reads signatures through cluster Stores only.
			name:    "NamespacedStore",
			newObj:  func() client.Object { return &v1beta1.NamespacedStore{} },
			newList: func() client.ObjectList { return &v1beta1.NamespacedStoreList{} },
			check: func(_ context.Context, o client.Object) (*engine.Material, error) {
				return nil, errNamespacedStore
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.NamespacedStore).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
		},
		{
			name:    "KeyManagementProvider",
			newObj:  func() client.Object { return &v1beta1.KeyManagementProvider{} },
			newList: func() client.ObjectList { return &v1beta1.KeyManagementProviderList{} },
			check: func(ctx context.Context, o client.Object) (*engine.Material, error) {
				return kmpCheck("")(ctx, o.GetName(), o.(*v1beta1.KeyManagementProvider).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.KeyManagementProvider).Status
				return statusFields{&s.IsSuccess, &s.Error, &s.BriefError, &s.LastFetchedTime, &s.Properties}
			},
			refresh: func(o client.Object) time.Duration { return kmpRefresh(o.(*v1beta1.KeyManagementProvider).Spec) },
		},
		{
			name:    "NamespacedKeyManagementProvider",
			newObj:  func() client.Object { return &v1beta1.NamespacedKeyManagementProvider{} },
			newList: func() client.ObjectList { return &v1beta1.NamespacedKeyManagementProviderList{} },
			check: func(ctx context.Context, o client.Object) (*engine.Material, error) {
				return kmpCheck(o.GetNamespace())(ctx, o.GetName(), o.(*v1beta1.NamespacedKeyManagementProvider).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.NamespacedKeyManagementProvider).Status
				return statusFields{&s.IsSuccess, &s.Error, &s.BriefError, &s.LastFetchedTime, &s.Properties}
			},
			refresh: func(o client.Object) time.Duration {
				return kmpRefresh(o.(*v1beta1.NamespacedKeyManagementProvider).Spec)
			},
		},
		{
			name:    "CertificateStore",
			newObj:  func() client.Object { return &v1beta1.CertificateStore{} },
			newList: func() client.ObjectList { return &v1beta1.CertificateStoreList{} },
			check: func(ctx context.Context, o client.Object) (*engine.Material, error) {
				m, err := ch.CheckCertificateStore(ctx, o.GetNamespace(), o.GetName(), o.(*v1beta1.CertificateStore).Spec)
				return &m, err
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.CertificateStore).Status
				return statusFields{&s.IsSuccess, &s.Error, &s.BriefError, &s.LastFetchedTime, &s.Properties}
			},
		},
		{
			name:    "Verifier",
			newObj:  func() client.Object { return &v1beta1.Verifier{} },
			newList: func() client.ObjectList { return &v1beta1.VerifierList{} },
			check: func(_ context.Context, o client.Object) (*engine.Material, error) {
				return nil, engine.CheckVerifier(o.(*v1beta1.Verifier).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.Verifier).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
			refs: func(o client.Object) []string { return references(o.(*v1beta1.Verifier).Spec) },
		},
		{
			name:    "NamespacedVerifier",
			newObj:  func() client.Object { return &v1beta1.NamespacedVerifier{} },
			newList: func() client.ObjectList { return &v1beta1.NamespacedVerifierList{} },
			check: func(_ context.Context, o client.Object) (*engine.Material, error) {
				return nil, engine.CheckVerifier(o.(*v1beta1.NamespacedVerifier).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.NamespacedVerifier).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
			refs: func(o client.Object) []string { return references(o.(*v1beta1.NamespacedVerifier).Spec) },
		},
		{
			name:    "Policy",
			newObj:  func() client.Object { return &v1beta1.Policy{} },
			newList: func() client.ObjectList { return &v1beta1.PolicyList{} },
			check: func(ctx context.Context, o client.Object) (*engine.Material, error) {
				return nil, engine.CheckPolicy(ctx, o.GetName(), "", o.(*v1beta1.Policy).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.Policy).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
		},
		{
			name:    "NamespacedPolicy",
			newObj:  func() client.Object { return &v1beta1.NamespacedPolicy{} },
			newList: func() client.ObjectList { return &v1beta1.NamespacedPolicyList{} },
			check: func(ctx context.Context, o client.Object) (*engine.Material, error) {
				return nil, engine.CheckPolicy(ctx, o.GetName(), o.GetNamespace(), o.(*v1beta1.NamespacedPolicy).Spec)
			},
			status: func(o client.Object) statusFields {
				s := &o.(*v1beta1.NamespacedPolicy).Status
				return plainStatus(&s.IsSuccess, &s.Error, &s.BriefError)
			},
		},
	}
}

// references are the key management providers a Verifier names: notation's
// verificationCertStores (flat or by trust store type) and cosign's keys.
func references(spec v1beta1.VerifierSpec) []string {
	var out []string
	switch spec.VerifierType() {
	case v1beta1.VerifierNotation:
		p, _, err := spec.NotationParameters()
		if err != nil {
			return nil
		}
		for _, raw := range p.VerificationCertStores {
			var names []string
			if json.Unmarshal(raw, &names) == nil {
				out = append(out, names...)
				continue
			}
			var byStore map[string][]string
			if json.Unmarshal(raw, &byStore) == nil {
				for _, names := range byStore {
					out = append(out, names...)
				}
			}
		}
	case v1beta1.VerifierCosign:
		p, _, err := spec.CosignParameters()
		if err != nil {
			return nil
		}
		for _, tp := range p.TrustPolicies {
			for _, k := range tp.Keys {
				if k.Provider != "" {
					out = append(out, k.Provider)
				}
			}
		}
	}
	return out
}
