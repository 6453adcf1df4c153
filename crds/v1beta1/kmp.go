package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// KeyManagementProviderSpec selects a provider of keys and certificates:
// `inline` (PEM in the resource) or `azurekeyvault`.
type KeyManagementProviderSpec struct {
	// Type of the provider: `inline` or `azurekeyvault`.
	Type string `json:"type"`
	// RefreshInterval re-fetches keys and certificates, e.g. `1h`; empty disables.
	RefreshInterval string `json:"refreshInterval,omitempty"`
	// Parameters of the provider (`contentType`, `value` for inline).
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// KeyManagementProviderStatus is what the controller observed at the last fetch.
type KeyManagementProviderStatus struct {
	IsSuccess  bool   `json:"issuccess"`
	Error      string `json:"error,omitempty"`
	BriefError string `json:"brieferror,omitempty"`
	// LastFetchedTime is when keys and certificates were last fetched.
	LastFetchedTime *metav1.Time `json:"lastfetchedtime,omitempty"`
	// Properties of the fetched keys and certificates (never the material itself).
	// +kubebuilder:pruning:PreserveUnknownFields
	Properties runtime.RawExtension `json:"properties,omitempty"`
}

// KeyManagementProvider supplies keys and certificates to verifiers, cluster-wide.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="LastFetchedTime",type=date,JSONPath=`.status.lastfetchedtime`
type KeyManagementProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KeyManagementProviderSpec   `json:"spec,omitempty"`
	Status KeyManagementProviderStatus `json:"status,omitempty"`
}

// KeyManagementProviderList is a list of KeyManagementProvider.
//
// +kubebuilder:object:root=true
type KeyManagementProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KeyManagementProvider `json:"items"`
}

// NamespacedKeyManagementProvider is visible to verifiers and policies of its
// namespace only, referenced as `namespace/name`.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="LastFetchedTime",type=date,JSONPath=`.status.lastfetchedtime`
type NamespacedKeyManagementProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KeyManagementProviderSpec   `json:"spec,omitempty"`
	Status KeyManagementProviderStatus `json:"status,omitempty"`
}

// NamespacedKeyManagementProviderList is a list of NamespacedKeyManagementProvider.
//
// +kubebuilder:object:root=true
type NamespacedKeyManagementProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedKeyManagementProvider `json:"items"`
}

// CertificateStoreSpec is the deprecated predecessor of KeyManagementProvider.
type CertificateStoreSpec struct {
	// Provider of the certificates: `inline` or `azurekeyvault`.
	Provider string `json:"provider"`
	// Parameters of the provider (`value` for inline).
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// CertificateStoreStatus is what the controller observed at the last fetch.
type CertificateStoreStatus struct {
	IsSuccess       bool         `json:"issuccess"`
	Error           string       `json:"error,omitempty"`
	BriefError      string       `json:"brieferror,omitempty"`
	LastFetchedTime *metav1.Time `json:"lastfetchedtime,omitempty"`
	// +kubebuilder:pruning:PreserveUnknownFields
	Properties runtime.RawExtension `json:"properties,omitempty"`
}

// CertificateStore supplies certificates to the notation verifier.
// Deprecated: use KeyManagementProvider; it is still honoured, with a warning.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="LastFetchedTime",type=date,JSONPath=`.status.lastfetchedtime`
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
