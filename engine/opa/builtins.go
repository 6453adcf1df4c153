// Package opa runs Rego policies with ratify's verification builtins
// (notation.verify, cosign.verify, kmp.keys, oras.referrers, ...)
// registered in OPA, so the same functions work in ratify's engine, in
// `ratify opa ...` and in `opa check --capabilities`.
package opa

import (
	"fmt"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/seed-12b584bc/ratify/builtins"
)

var registerOnce sync.Once

// Register adds every builtin of builtins.Table to OPA, once per process.
// OPA's builtin registry is global; this is the only global state ratify
// keeps.
func Register() {
	registerOnce.Do(func() {
		for _, f := range builtins.Table {
			rego.RegisterBuiltinDyn(&rego.Function{
				Name:        f.Name,
				Description: f.Description,
				Decl:        Decl(f),
				// Results depend on registries and keys, not on arguments
				// alone: never fold them at compile time.
				Nondeterministic: true,
			}, impl(f))
		}
	})
}

// Decl is the OPA type declaration of f.
func Decl(f *builtins.Func) *types.Function {
	args := make([]types.Type, len(f.Args))
	for i, a := range f.Args {
		args[i] = types.Named(a.Name, opaType(a.Type)).Description(a.Description)
	}
	return types.NewFunction(args, types.Named("result", opaType(f.Result)).Description(f.ResultDescription))
}

func opaType(t builtins.Type) types.Type {
	switch t {
	case builtins.String:
		return types.S
	case builtins.Object:
		return types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))
	case builtins.Array:
		return types.NewArray(nil, types.A)
	}
	return types.A
}

// impl adapts f to OPA: arguments to JSON-like Go values, the call through
// the evaluation's Session, the result back to a term. An error makes the call
// undefined (OPA's non-strict builtin errors), so the policy's rule fails
// closed; the session records the error as a failed report that the decision shows.
func impl(f *builtins.Func) rego.BuiltinDyn {
	return func(bctx rego.BuiltinContext, terms []*ast.Term) (*ast.Term, error) {
		sess, ok := builtins.SessionFrom(bctx.Context)
		if !ok {
			return nil, fmt.Errorf("%s: no ratify configuration (run the policy with ratify, or `ratify opa` with -c)", f.Name)
		}
		// OPA may pass the output term after the arguments; use the arguments only.
		if len(terms) < len(f.Args) {
			return nil, fmt.Errorf("%s: want %d arguments, got %d", f.Name, len(f.Args), len(terms))
		}
		args := make([]any, len(f.Args))
		for i, t := range terms[:len(f.Args)] {
			v, err := ast.JSON(t.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: argument %d: %w", f.Name, i+1, err)
			}
			args[i] = v
		}
		val, err := sess.CallAs(bctx.Context, f.Name, args, "opa", toTerm)
		if err != nil {
			return nil, err
		}
		return val.(*ast.Term), nil
	}
}

func toTerm(v any) (any, error) {
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	return ast.NewTerm(val), nil
}
