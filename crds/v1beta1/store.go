package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// StoreSpec selects a store implementation and its parameters.
type StoreSpec struct {
	// Name of the store: `oras` (a registry) or `oci-layout` (a directory).
	Name string `json:"name"`
	// Version of the store plugin (Ratify compatibility; ignored).
	Version string `json:"version,omitempty"`
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

// StoreStatus is what the controller observed when it last applied the store.
type StoreStatus struct {
	// IsSuccess is true when the store was configured.
	IsSuccess bool `json:"issuccess"`
	// Error is the full error when IsSuccess is false.
	Error string `json:"error,omitempty"`
	// BriefError is the error truncated for `kubectl get`.
	BriefError string `json:"brieferror,omitempty"`
}

// Store is a source of images and their referrers.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
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

// NamespacedStore is a Store that Ratify reads the signatures of images
// admitted in its namespace from. ratify accepts it so that Ratify's YAML
// applies, but does not use it yet: signatures are read through the
// cluster's Stores (a warning says so).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NamespacedStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec   `json:"spec,omitempty"`
	Status StoreStatus `json:"status,omitempty"`
}

// NamespacedStoreList is a list of NamespacedStore.
//
// +kubebuilder:object:root=true
type NamespacedStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedStore `json:"items"`
}
