package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The kinds below have Ratify's v1alpha1 schema: their specs only, and an
// empty status (Ratify's v1alpha1 had none; status is v1beta1's).

// StoreSpec selects a store implementation and its parameters.
type StoreSpec struct {
	// Name of the store: `oras` or `oci-layout`.
	Name string `json:"name,omitempty"`
	// Address of a plugin (Ratify compatibility; ignored).
	Address string `json:"address,omitempty"`
	// Source of a plugin (Ratify compatibility; ignored).
	Source *PluginSource `json:"source,omitempty"`
	// Parameters of the store, such as `cosignEnabled`, `useHttp`, `authProvider`.
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// PluginSource is where Ratify downloads a plugin from (kept for compatibility).
type PluginSource struct {
	Artifact string `json:"artifact,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	AuthProvider runtime.RawExtension `json:"authProvider,omitempty"`
}

// StoreStatus is empty in v1alpha1.
type StoreStatus struct{}

// Store is a source of images and their referrers.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:deprecatedversion:warning="v1alpha1 of the Store API has been deprecated. Please migrate to v1beta1."
type Store struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec   `json:"spec,omitempty"`
	Status StoreStatus `json:"status,omitempty"`
}

// StoreList is a list of Store.
//
// +kubebuilder:object:root=true
type StoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Store `json:"items"`
}

// VerifierSpec selects a verifier, the artifact types it handles and its
// parameters.
type VerifierSpec struct {
	// Name of the verifier: `notation` or `cosign`.
	Name string `json:"name,omitempty"`
	// ArtifactTypes the verifier handles, comma separated.
	ArtifactTypes string `json:"artifactTypes,omitempty"`
	// Address of a plugin (Ratify compatibility; ignored).
	Address string `json:"address,omitempty"`
	// Source of a plugin (Ratify compatibility; ignored).
	Source *PluginSource `json:"source,omitempty"`
	// Parameters of the verifier.
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// VerifierStatus is empty in v1alpha1.
type VerifierStatus struct{}

// Verifier checks one kind of signature artifact, cluster-wide.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:deprecatedversion:warning="v1alpha1 of the Verifier API has been deprecated. Please migrate to v1beta1."
type Verifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec   `json:"spec,omitempty"`
	Status VerifierStatus `json:"status,omitempty"`
}

// VerifierList is a list of Verifier.
//
// +kubebuilder:object:root=true
type VerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Verifier `json:"items"`
}

// PolicySpec holds the policy's parameters; in v1alpha1 the policy type is
// the resource's name (`configpolicy` or `regopolicy`).
type PolicySpec struct {
	// Parameters of the policy.
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// PolicyStatus is empty in v1alpha1.
type PolicyStatus struct{}

// Policy decides whether an image is admitted from the verifiers' reports.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:deprecatedversion:warning="v1alpha1 of the Policy API has been deprecated. Please migrate to v1beta1."
type Policy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec,omitempty"`
	Status PolicyStatus `json:"status,omitempty"`
}

// PolicyList is a list of Policy.
//
// +kubebuilder:object:root=true
type PolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Policy `json:"items"`
}

// CertificateStoreSpec selects a provider of certificates.
type CertificateStoreSpec struct {
	// Provider of the certificates: `inline` or `azurekeyvault`.
	Provider string `json:"provider,omitempty"`
	// Parameters of the provider.
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// CertificateStoreStatus is empty in v1alpha1.
type CertificateStoreStatus struct{}

// CertificateStore supplies certificates to the notation verifier.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="v1alpha1 of the CertificateStore API has been deprecated. Please migrate to v1beta1."
type CertificateStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CertificateStoreSpec   `json:"spec,omitempty"`
	Status CertificateStoreStatus `json:"status,omitempty"`
}

// CertificateStoreList is a list of CertificateStore.
//
// +kubebuilder:object:root=true
type CertificateStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CertificateStore `json:"items"`
}
