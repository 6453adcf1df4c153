package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// The options and status types every group version has (ListOptions,
	// WatchEvent, ...), which clients and informers encode.
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
