package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of these resources.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers the kinds with a scheme (for clients and controllers).
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Store{}, &StoreList{},
		&NamespacedStore{}, &NamespacedStoreList{},
		&Verifier{}, &VerifierList{},
		&NamespacedVerifier{}, &NamespacedVerifierList{},
		&KeyManagementProvider{}, &KeyManagementProviderList{},
		&NamespacedKeyManagementProvider{}, &NamespacedKeyManagementProviderList{},
		&Policy{}, &PolicyList{},
		&NamespacedPolicy{}, &NamespacedPolicyList{},
		&CertificateStore{}, &CertificateStoreList{},
	)
	return nil
}
