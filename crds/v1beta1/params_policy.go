package v1beta1

import (
	"sort"
	"strings"
)

// Modes of config-policy's artifactVerificationPolicies.
const (
	PolicyModeAll = "all"
	PolicyModeAny = "any"
)

// ConfigPolicyParameters are the spec.parameters of a config-policy, as in
// Ratify: per artifact type (or `default`), whether `all` its signatures
// must verify or `any` one.
//
// +kubebuilder:object:generate=false
type ConfigPolicyParameters struct {
	ArtifactVerificationPolicies map[string]string `json:"artifactVerificationPolicies,omitempty"`
	// PassthroughEnabled is Ratify's; accepted and unused.
	PassthroughEnabled bool `json:"passthroughEnabled,omitempty"`
}

// Validate checks every mode, read as the compiler reads it (trimmed, any
// case).
func (p ConfigPolicyParameters) Validate() error {
	var ps problems
	types := make([]string, 0, len(p.ArtifactVerificationPolicies))
	for t := range p.ArtifactVerificationPolicies {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		m := p.ArtifactVerificationPolicies[t]
		switch strings.ToLower(strings.TrimSpace(m)) {
		case PolicyModeAll, PolicyModeAny:
		default:
			ps.add("%s.artifactVerificationPolicies[%q] is %q: want %q or %q", paramsPath, t, m, PolicyModeAny, PolicyModeAll)
		}
	}
	return ps.err()
}

// RegoParameters are the spec.parameters of a `rego` Policy: a module of
// package ratify.policy with a rule allow, calling the builtins.
//
// +kubebuilder:object:generate=false
type RegoParameters struct {
	Policy string `json:"policy"`
}

// Validate checks that the source is given.
func (p RegoParameters) Validate() error {
	var ps problems
	if strings.TrimSpace(p.Policy) == "" {
		ps.add("%s.policy is required: the Rego source", paramsPath)
	}
	return ps.err()
}

// RatifyRegoParameters are the spec.parameters of Ratify's rego-policy.
//
// +kubebuilder:object:generate=false
type RatifyRegoParameters struct {
	Policy string `json:"policy"`
	// PolicyPath is Ratify's file of the policy; not supported (a file in
	// the container is not configuration).
	PolicyPath string `json:"policyPath,omitempty"`
	// PassthroughEnabled is Ratify's; accepted and unused.
	PassthroughEnabled bool `json:"passthroughEnabled,omitempty"`
}

// Validate checks that the source is given.
func (p RatifyRegoParameters) Validate() error {
	var ps problems
	switch {
	case strings.TrimSpace(p.Policy) != "":
	case p.PolicyPath != "":
		ps.add("%s.policyPath is not supported: give the Rego source in %s.policy", paramsPath, paramsPath)
	default:
		ps.add("%s.policy is required: the Rego source", paramsPath)
	}
	return ps.err()
}

// CELParameters are the spec.parameters of a `cel` Policy: validations
// that must all hold.
//
// +kubebuilder:object:generate=false
type CELParameters struct {
	Validations []CELValidation `json:"validations"`
}

// CELValidation is one CEL expression and the reason given when it is false.
//
// +kubebuilder:object:generate=false
type CELValidation struct {
	Expression string `json:"expression"`
	Message    string `json:"message,omitempty"`
}

// Validate checks that there is a validation and each has an expression:
// an empty policy would admit everything.
func (p CELParameters) Validate() error {
	var ps problems
	if len(p.Validations) == 0 {
		ps.add("%s.validations is required: a CEL policy needs at least one validation", paramsPath)
	}
	for i, v := range p.Validations {
		if strings.TrimSpace(v.Expression) == "" {
			ps.add("%s.validations[%d].expression is required", paramsPath, i)
		}
	}
	return ps.err()
}

// ConfigPolicyParameters decodes spec.parameters of a config-policy.
func (s PolicySpec) ConfigPolicyParameters() (ConfigPolicyParameters, []string, error) {
	return DecodeParameters[ConfigPolicyParameters](s.Parameters)
}

// RegoParameters decodes spec.parameters of a rego Policy.
func (s PolicySpec) RegoParameters() (RegoParameters, []string, error) {
	return DecodeParameters[RegoParameters](s.Parameters)
}

// RatifyRegoParameters decodes spec.parameters of a rego-policy.
func (s PolicySpec) RatifyRegoParameters() (RatifyRegoParameters, []string, error) {
	return DecodeParameters[RatifyRegoParameters](s.Parameters)
}

// CELParameters decodes spec.parameters of a cel Policy.
func (s PolicySpec) CELParameters() (CELParameters, []string, error) {
	return DecodeParameters[CELParameters](s.Parameters)
}
