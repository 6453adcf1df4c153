package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Policy types.
const (
	// PolicyConfig is Ratify's config-policy: verdicts from verifier reports
	// with per-artifact-type any/all.
	PolicyConfig = "config-policy"
	// PolicyRatifyRego is Ratify's rego-policy: input.verifierReports,
	// query data.ratify.policy.valid.
	PolicyRatifyRego = "rego-policy"
	// PolicyRego is a Rego policy (package ratify.policy, rule allow) that
	// calls the verification builtins.
	PolicyRego = "rego"
	// PolicyCEL is a list of CEL validations calling the builtins.
	PolicyCEL = "cel"
)

// ClusterPolicyName is the name of the Policy in force, as in Ratify.
const ClusterPolicyName = "ratify-policy"

// PolicySpec selects a policy type and its parameters.
type PolicySpec struct {
	// Type: `config-policy`, `rego-policy`, `rego` or `cel`.
	Type string `json:"type"`
	// Parameters: `artifactVerificationPolicies` (config-policy), `policy`
	// (Rego source), `validations` (CEL).
	// +kubebuilder:pruning:PreserveUnknownFields
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// PolicyStatus is what the controller observed when it last compiled the policy.
type PolicyStatus struct {
	IsSuccess  bool   `json:"issuccess"`
	Error      string `json:"error,omitempty"`
	BriefError string `json:"brieferror,omitempty"`
}

// Policy decides, from the verification builtins, whether an image is
// admitted. The one named `ratify-policy` is in force cluster-wide.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
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

// NamespacedPolicy governs the images admitted in its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NamespacedPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec   `json:"spec,omitempty"`
	Status PolicyStatus `json:"status,omitempty"`
}

// NamespacedPolicyList is a list of NamespacedPolicy.
//
// +kubebuilder:object:root=true
type NamespacedPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedPolicy `json:"items"`
}
