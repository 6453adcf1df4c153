// Package v1beta1 holds the API types of Ratify's `config.ratify.deislabs.io/v1beta1`
// custom resources, kept wire-compatible with Ratify so existing YAML works.
//
// +kubebuilder:object:generate=true
// +groupName=config.ratify.deislabs.io
package v1beta1

// Group and version of every kind here.
const (
	Group      = "config.ratify.deislabs.io"
	Version    = "v1beta1"
	APIVersion = Group + "/" + Version
)
