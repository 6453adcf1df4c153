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

// Policy is a compiled, prepared Rego policy.
type Policy struct {
	query    rego.PreparedEvalQuery
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
	opts := []func(*rego.Rego){rego.Query("data." + pkg), rego.StrictBuiltinErrors(false)}
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
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &Policy{query: pq, contract: c}, nil
}

// Query evaluates the policy's package with input and returns its document.
func (p *Policy) Query(ctx context.Context, env *builtins.Env, input map[string]any) (map[string]any, error) {
	rs, err := p.query.Eval(builtins.WithEnv(ctx, env), rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return map[string]any{}, nil
	}
	doc, _ := rs[0].Expressions[0].Value.(map[string]any)
	return doc, nil
}

// Eval evaluates the policy with input. allow is false unless the
// contract's rule is true: undefined or non-boolean denies.
func (p *Policy) Eval(ctx context.Context, env *builtins.Env, input map[string]any) (allow bool, reasons []string, err error) {
	doc, err := p.Query(ctx, env, input)
	if err != nil {
		return false, nil, err
	}
	allow, _ = doc[p.contract.Rule].(bool)
	if rs, ok := doc["reasons"].([]any); ok {
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
