// Package policies holds the shipped policies (see README.md) and, in
// compiled/, the template of the policy ratify compiles from Verifier
// resources, embedded here for engine/compile.
package policies

import _ "embed"

// CompiledTemplate is compiled/policy.rego.tmpl, a text/template that
// engine/compile renders into the compiled default policy.
//
//go:embed compiled/policy.rego.tmpl
var CompiledTemplate string
