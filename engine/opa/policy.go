package opa

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/seed-12b584bc/ratify/builtins"
)

// Package is the package a ratify Rego policy declares.
const Package = "ratify.policy"

// ErrContract means the policy does not follow the policy contract.
var ErrContract = errors.New("policy contract")

// Contract names the package a policy declares and the rule it must have.
type Contract struct {
	Package string
	Rule    string
}

// Contracts of ratify policies.
var (
	// Allow is ratify's: package ratify.policy, boolean rule allow, optional
	// set reasons of strings.
	Allow = Contract{Package: Package, Rule: "allow"}
	// Valid is Ratify's rego-policy: rule valid over input.verifierReports.
	Valid = Contract{Package: Package, Rule: "valid"}
)

// Policy is a compiled, prepared Rego policy. Queries are prepared per
// rule: a decision asks for the contract's rule only, and for reasons only
// when it denies, so rules nobody reads are never evaluated.
type Policy struct {
	rules    map[string]rego.PreparedEvalQuery
	contract Contract
}

// Compile parses, checks against the contract and prepares modules (file
// name → source). Rego v1 is expected; v0 modules (as in Ratify's
// rego-policy examples) are accepted too.
func Compile(ctx context.Context, modules map[string]string, c Contract) (*Policy, error) {
	Register()
	pkg, rule := c.Package, c.Rule
	names := make([]string, 0, len(modules))
	for n := range modules {
		names = append(names, n)
	}
	sort.Strings(names)
	found := false
	var opts []func(*rego.Rego)
	for _, n := range names {
		m, err := ast.ParseModuleWithOpts(n, modules[n], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			// Ratify's rego-policy examples are written in Rego v0.
			m, err = ast.ParseModuleWithOpts(n, modules[n], ast.ParserOptions{RegoVersion: ast.RegoV0})
			if err != nil {
				return nil, err
			}
		}
		if m.Package.Path.String() == "data."+pkg {
			for _, r := range m.Rules {
				if r.Head.Name.String() == rule || r.Head.Ref().String() == rule {
					found = true
				}
			}
		}
		opts = append(opts, rego.ParsedModule(m))
	}
	if !found {
		return nil, fmt.Errorf("%w: the policy must declare package %s with a rule %q", ErrContract, pkg, rule)
	}
	p := &Policy{rules: map[string]rego.PreparedEvalQuery{}, contract: c}
	// Policies reach neither the network nor the process environment: they
	// compile with ratify's capabilities, without the builtins that would.
	caps := Capabilities()
	// The rules share one compiler, the one rego.New would make: preparing
	// a query compiles every module it is given, so each rule compiled the
	// whole policy again (half of a build's time, a third of its memory).
	// The first rule compiles the modules; the second only its query.
	compiler := ast.NewCompiler().WithCapabilities(caps).WithUseTypeCheckAnnotations(true)
	for i, r := range []string{rule, "reasons"} {
		ro := []func(*rego.Rego){rego.Query("data." + pkg + "." + r), rego.StrictBuiltinErrors(false), rego.Capabilities(caps), rego.Compiler(compiler)}
		if i == 0 {
			ro = append(ro, opts...)
		}
		pq, err := rego.New(ro...).PrepareForEval(ctx)
		if err != nil {
			return nil, explainExcluded(err)
		}
		p.rules[r] = pq
	}
	return p, nil
}

// Rule evaluates one rule of the policy's package with input; undefined is nil.
func (p *Policy) Rule(ctx context.Context, sess *builtins.Session, rule string, input map[string]any) (any, error) {
	pq, ok := p.rules[rule]
	if !ok {
		return nil, fmt.Errorf("rule %q was not prepared", rule)
	}
	in, err := inputValue(input)
	if err != nil {
		return nil, err
	}
	rs, err := pq.Eval(builtins.WithSession(ctx, sess), rego.EvalParsedInput(in))
	if err != nil {
		// OPA stops at the context's deadline or cancellation, but not
		// every error it stops with says so (a builtin's halt does not
		// wrap it): make sure the caller sees the context's error, which it
		// treats as transient rather than as the policy's verdict.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return nil, fmt.Errorf("%v: %w", err, cerr)
		}
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	return rs[0].Expressions[0].Value, nil
}

// Eval evaluates the policy with input. allow is false unless the
// contract's rule is true: undefined or non-boolean denies.
func (p *Policy) Eval(ctx context.Context, sess *builtins.Session, input map[string]any) (allow bool, reasons []string, err error) {
	v, err := p.Rule(ctx, sess, p.contract.Rule, input)
	if err != nil {
		return false, nil, err
	}
	if allow, _ = v.(bool); allow {
		return true, nil, nil
	}
	v, err = p.Rule(ctx, sess, "reasons", input)
	if err != nil {
		return false, nil, err
	}
	if rs, ok := v.([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				reasons = append(reasons, s)
			} else {
				reasons = append(reasons, fmt.Sprint(r))
			}
		}
	}
	sort.Strings(reasons)
	return allow, reasons, nil
}

// inputValue converts the input; flat string maps (ratify's input) skip
// OPA's generic JSON round trip.
func inputValue(input map[string]any) (ast.Value, error) {
	terms := make([][2]*ast.Term, 0, len(input))
	for k, v := range input {
		s, ok := v.(string)
		if !ok {
			return ast.InterfaceToValue(input)
		}
		terms = append(terms, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(s)})
	}
	return ast.NewObject(terms...), nil
}
