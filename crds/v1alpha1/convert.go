package v1alpha1

import (
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// ErrNotConvertible is returned by ToV1beta1 for an object that is not one
// of this version's kinds (a list, another version's object).
var ErrNotConvertible = errors.New("not a v1alpha1 resource")

// Ratify's v1alpha1 policy names: the name was the policy type.
const (
	PolicyNameConfig = "configpolicy"
	PolicyNameRego   = "regopolicy"
)

// ToV1beta1 converts one of this version's resources to its v1beta1 kind.
func ToV1beta1(obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *Store:
		return StoreToV1beta1(o), nil
	case *Verifier:
		return VerifierToV1beta1(o), nil
	case *Policy:
		return PolicyToV1beta1(o), nil
	case *CertificateStore:
		return CertificateStoreToV1beta1(o), nil
	}
	return nil, fmt.Errorf("%w: %T", ErrNotConvertible, obj)
}

// StoreToV1beta1 converts a Store; v1beta1 has every field.
func StoreToV1beta1(in *Store) *v1beta1.Store {
	return &v1beta1.Store{
		TypeMeta:   typeMeta("Store"),
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec: v1beta1.StoreSpec{
			Name:       in.Spec.Name,
			Address:    in.Spec.Address,
			Source:     source(in.Spec.Source),
			Parameters: *in.Spec.Parameters.DeepCopy(),
		},
	}
}

// VerifierToV1beta1 converts a Verifier; v1beta1 has every field.
func VerifierToV1beta1(in *Verifier) *v1beta1.Verifier {
	return &v1beta1.Verifier{
		TypeMeta:   typeMeta("Verifier"),
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec: v1beta1.VerifierSpec{
			Name:          in.Spec.Name,
			ArtifactTypes: in.Spec.ArtifactTypes,
			Address:       in.Spec.Address,
			Source:        source(in.Spec.Source),
			Parameters:    *in.Spec.Parameters.DeepCopy(),
		},
	}
}

// PolicyToV1beta1 converts a Policy as Ratify does: the v1alpha1 name is
// the policy type, and the v1beta1 policy in force is `ratify-policy`.
// Ratify compares type names without case or dashes, so `configpolicy`
// and `regopolicy` are v1beta1's `config-policy` and `rego-policy`; any
// other name is kept as the type, for the engine to refuse by name.
func PolicyToV1beta1(in *Policy) *v1beta1.Policy {
	out := &v1beta1.Policy{
		TypeMeta:   typeMeta("Policy"),
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec: v1beta1.PolicySpec{
			Type:       policyType(in.Name),
			Parameters: *in.Spec.Parameters.DeepCopy(),
		},
	}
	out.Name = v1beta1.ClusterPolicyName
	return out
}

func policyType(name string) string {
	switch strings.ReplaceAll(strings.ToLower(name), "-", "") {
	case PolicyNameConfig:
		return v1beta1.PolicyConfig
	case PolicyNameRego:
		return v1beta1.PolicyRatifyRego
	}
	return name
}

// CertificateStoreToV1beta1 converts a CertificateStore; v1beta1 has every
// field.
func CertificateStoreToV1beta1(in *CertificateStore) *v1beta1.CertificateStore {
	return &v1beta1.CertificateStore{
		TypeMeta:   typeMeta("CertificateStore"),
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec: v1beta1.CertificateStoreSpec{
			Provider:   in.Spec.Provider,
			Parameters: *in.Spec.Parameters.DeepCopy(),
		},
	}
}

func source(in *PluginSource) *v1beta1.PluginSource {
	if in == nil {
		return nil
	}
	return &v1beta1.PluginSource{Artifact: in.Artifact, AuthProvider: *in.AuthProvider.DeepCopy()}
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1beta1.APIVersion, Kind: kind}
}
