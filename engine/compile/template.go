package compile

import (
	"fmt"
	"regexp"
	"text/template"

	"github.com/seed-12b584bc/ratify/policies"
)

// The fixed part of the compiled policy is policies/compiled/policy.rego.tmpl,
// beside the shipped policies it is the contract of. Parsed once; executing
// a parsed template does not change it.
var moduleTemplate = template.Must(template.New("policy.rego.tmpl").Option("missingkey=error").Parse(policies.CompiledTemplate))

// code is Rego that may go into the module as it is: quoted strings (quote),
// set and JSON literals (setLiteral, jsonLiteral), and rules written with
// gen.line. A value from a resource becomes code only through those.
type code string

// comment is text for a `#` comment: on one line, so a line break in a
// resource's field cannot end the comment and start code.
type comment string

func commentf(format string, args ...any) comment {
	return comment(oneLine.Replace(fmt.Sprintf(format, args...)))
}

// packagePath is a Rego package path, such as ratify.policy.
var packagePath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// moduleData is what the template is rendered with. It holds only code,
// comments, numbers and booleans: the template cannot put an unquoted value
// into Rego.
type moduleData struct {
	Sources comment
	Package code
	// Handled is the set of artifact types some Verifier handles.
	Handled   code
	Verifiers []verifierData
	// Types are the handled types in order, with their modes.
	Types []typeData
	// Required is the set of types the config-policy lists.
	Required     code
	ConfigErrors code
}

// verifierData is one Verifier, v<Index> in the module.
type verifierData struct {
	Index   int
	Heading comment
	// Types is the set of artifact types it handles.
	Types code
	// Body defines v<Index>_report from the Verifier's parameters.
	Body code
	// Display names the resource in reasons; Name and Type are as in
	// Ratify's verifier reports.
	Display, Name, Type code
	// CouldNotRun and NoScope are reasons (strings).
	CouldNotRun, NoScope code
	// Cosign says Body defines v<Index>_policy, the trust policy chosen.
	Cosign bool
}

// typeData is one handled artifact type.
type typeData struct {
	Name comment
	Mode comment
	// All: every Verifier of the type must succeed; else one signature must.
	All    bool
	Quoted code
	// Verifiers are the indexes of the Verifiers that handle the type.
	Verifiers []int
}
