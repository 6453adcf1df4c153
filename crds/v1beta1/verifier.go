package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// VerifierSpec selects a verifier (`notation` or `cosign`), the artifact
// types it handles and its parameters (`trustPolicyDoc`,
// `verificationCertStores` for notation; `trustPolicies` for cosign).
type VerifierSpec struct {
	// Name of the verifier: `notation` or `cosign` (Ratify v1beta1).
	Name string `json:"name,omitempty"`
	// Type of the verifier; Ratify v1.2 spelling of Name. Either may be set.
	Type string `json:"type,omitempty"`
	// Version of the verifier plugin (Ratify compatibility; ignored).
	Version string `json:"version,omitempty"`
	// ArtifactTypes the verifier handles, comma separated.
	ArtifactTypes string `json:"artifactTypes"`
	// Address of a plugin (Ratify compatibility; ignored).
	Address string `json:"address,omitempty"`
	// Source of a plugin (Ratify compatibility; ignored).
	Source *PluginSource `json:"source,omitempty"`
	// Parameters of the verifier.
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// VerifierStatus is what the controller observed when it last applied the verifier.
type VerifierStatus struct {
	IsSuccess  bool   `json:"issuccess"`
	Error      string `json:"error,omitempty"`
	BriefError string `json:"brieferror,omitempty"`
}

// Verifier checks one kind of signature artifact, cluster-wide.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
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

// NamespacedVerifier is a Verifier that applies to images admitted in its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NamespacedVerifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec   `json:"spec,omitempty"`
	Status VerifierStatus `json:"status,omitempty"`
}

// NamespacedVerifierList is a list of NamespacedVerifier.
//
// +kubebuilder:object:root=true
type NamespacedVerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedVerifier `json:"items"`
}
