// Package compile turns declarative resources (Verifiers with a notation
// trustPolicyDoc or cosign trustPolicies, a config-policy) into an ordinary
// Rego policy that calls the verification builtins. The result has Ratify's
// config-policy verdicts:
//
//   - only artifact types attached to the image that some Verifier handles
//     produce reports; none at all is a denial that says "no signatures";
//   - by default (`all`) every such signature must verify; a type set to
//     `any` in artifactVerificationPolicies needs one good signature;
//   - a type listed in artifactVerificationPolicies must be present.
//
// Configuration mistakes found here (a cluster Verifier naming a namespaced
// key management provider, overlapping cosign scopes, ...) do not stop the
// compile: they become reasons in the policy, which then denies, so the
// mistake is visible on every decision until it is fixed.
//
// The fixed part of the module is the template
// policies/compiled/policy.rego.tmpl (template.go); the rules each
// Verifier's parameters make are written here, in notation.go and cosign.go.
package compile

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// Verifier is a Verifier or NamespacedVerifier resource.
type Verifier struct {
	Name      string
	Namespace string // "" for a cluster-wide Verifier
	Type      string // "notation" or "cosign"
	// ArtifactTypes the verifier handles.
	ArtifactTypes []string
	Parameters    json.RawMessage
}

// Input is what a policy is compiled from.
type Input struct {
	Verifiers []Verifier
	// ConfigPolicy is the parameters of a config-policy; the zero value is
	// the defaults.
	ConfigPolicy v1beta1.ConfigPolicyParameters
	// Package of the generated module; default "ratify.policy". Ratify's
	// rego-policy evaluates the generated module in its own package and
	// reads its verifier_reports.
	Package string
	// Sources names the resources, for the header comment.
	Sources []string
}

// Policy modes of artifactVerificationPolicies.
const (
	ModeAll = "all"
	ModeAny = "any"
)

// gen accumulates the generated module.
type gen struct {
	b      strings.Builder
	errors []string
}

// line appends one line of Rego. Values from resources reach code only
// quoted (quote, jsonLiteral), but comments show them as written: a line
// break in a resource's field (an artifact type, a name) would end the
// comment and start code of the tenant's choosing, so none survives here.
func (g *gen) line(format string, args ...any) {
	g.b.WriteString(oneLine.Replace(fmt.Sprintf(format, args...)))
	g.b.WriteByte('\n')
}

var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ")

func (g *gen) configError(format string, args ...any) {
	g.errors = append(g.errors, fmt.Sprintf(format, args...))
}

// Rego compiles in into a Rego module: the template
// policies/compiled/policy.rego.tmpl rendered with what in says.
func Rego(in Input) (string, error) {
	pkg := in.Package
	if pkg == "" {
		pkg = "ratify.policy"
	}
	if !packagePath.MatchString(pkg) {
		return "", fmt.Errorf("package %q: want a dotted path of Rego identifiers", pkg)
	}
	if err := in.ConfigPolicy.Validate(); err != nil {
		return "", fmt.Errorf("config-policy: %w", err)
	}
	defaultMode := ModeAll
	required := []string{}
	modes := map[string]string{}
	for t, m := range in.ConfigPolicy.ArtifactVerificationPolicies {
		m = strings.ToLower(strings.TrimSpace(m))
		if t == "default" {
			defaultMode = m
			continue
		}
		modes[t] = m
		required = append(required, t)
	}
	sort.Strings(required)

	handled := map[string][]int{} // artifact type -> verifier indexes
	for i, v := range in.Verifiers {
		for _, t := range v.ArtifactTypes {
			handled[t] = append(handled[t], i)
		}
	}
	types := make([]string, 0, len(handled))
	for t := range handled {
		types = append(types, t)
	}
	sort.Strings(types)

	g := &gen{}
	data := moduleData{
		Sources: commentf("%s", strings.Join(in.Sources, ", ")),
		Package: code(pkg),
		Handled: code(setLiteral(types)),
	}
	for i, v := range in.Verifiers {
		// One builder for every Verifier's rules, so that what they share
		// (scope_matches) is emitted once.
		start := g.b.Len()
		g.rules(i, v)
		data.Verifiers = append(data.Verifiers, verifierData{
			Index:       i,
			Heading:     commentf("%s (%s) handles %s", v.display(), v.Type, strings.Join(v.ArtifactTypes, ", ")),
			Types:       code(setLiteral(v.ArtifactTypes)),
			Body:        code(g.b.String()[start:]),
			Display:     code(quote(v.display())),
			Name:        code(quote(v.Name)),
			Type:        code(quote(v.Type)),
			CouldNotRun: code(quote(v.display() + ": could not run; see the failed reports")),
			NoScope:     code(quote(v.display() + ": no trust policy scope matches the image")),
			Cosign:      v.Type == "cosign",
		})
	}
	for _, t := range types {
		mode := defaultMode
		if m, ok := modes[t]; ok {
			mode = m
		}
		data.Types = append(data.Types, typeData{
			Name: commentf("%s", t), Mode: comment(mode), All: mode == ModeAll,
			Quoted: code(quote(t)), Verifiers: handled[t],
		})
	}
	data.Required = code(setLiteral(required))
	data.ConfigErrors = code(setLiteral(g.errors))

	var out strings.Builder
	if err := moduleTemplate.Execute(&out, data); err != nil {
		return "", fmt.Errorf("rendering the compiled policy: %w", err)
	}
	return out.String(), nil
}

func (v Verifier) display() string {
	kind := "Verifier"
	if v.Namespace != "" {
		kind = "NamespacedVerifier " + v.Namespace + "/"
		return kind + v.Name
	}
	return kind + " " + v.Name
}

// rules emits v<i>_report (and what it needs) for one Verifier.
func (g *gen) rules(i int, v Verifier) {
	switch v.Type {
	case "notation":
		g.notation(i, v)
	case "cosign":
		g.cosign(i, v)
	default:
		g.configError("%s: unknown verifier %q (supported: notation, cosign)", v.display(), v.Type)
		g.noReport(i)
	}
}

// noReport emits a v<i>_report that is never defined, for a Verifier that
// cannot run: the rules that read the report stay safe and type-check (it
// has a report's shape), so the module compiles to a denial whose reasons
// say what is wrong.
func (g *gen) noReport(i int) {
	g.line(`v%d_report := {"isSuccess": false, "message": "", "signatures": []} if false`, i)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func setLiteral(items []string) string {
	if len(items) == 0 {
		return "set()"
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "{" + strings.Join(q, ", ") + "}"
}

func jsonLiteral(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
