package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of these resources.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers the kinds with a scheme (for clients and decoders).
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Store{}, &StoreList{},
		&Verifier{}, &VerifierList{},
		&Policy{}, &PolicyList{},
		&CertificateStore{}, &CertificateStoreList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// NewScheme is a scheme of this version's kinds. Each call makes a new
// one: a scheme is mutable, so none is shared.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = AddToScheme(s) // only adds known types: never fails
	return s
}
