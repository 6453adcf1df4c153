// Package v1alpha1 holds Ratify's deprecated `config.ratify.deislabs.io/v1alpha1`
// versions of Store, Verifier, Policy and CertificateStore, which Ratify
// still serves. The CRDs serve them beside v1beta1, the storage version,
// without a conversion webhook: every field here exists in v1beta1 with the
// same name and type, so the API server only rewrites apiVersion. Files
// given to ratify are converted to v1beta1 explicitly (ToV1beta1), as
// Ratify itself does.
//
// +kubebuilder:object:generate=true
// +groupName=config.ratify.deislabs.io
package v1alpha1

import "github.com/seed-12b584bc/ratify/crds/v1beta1"

// Group and version of every kind here.
const (
	Group      = v1beta1.Group
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)
