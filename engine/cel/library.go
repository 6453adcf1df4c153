// Package cel runs CEL policies with ratify's verification builtins: one
// cel.Library per builtin family (oras, kmp, notation, cosign), in the
// manner of cel-go's ext packages.
package cel

import (
	"context"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/seed-12b584bc/ratify/builtins"
)

// Library returns the CEL library of one builtin family, e.g. "notation".
func Library(family string) cel.EnvOption {
	return cel.Lib(&library{family: family})
}

type library struct{ family string }

// LibraryName implements cel.SingletonLibrary.
func (l *library) LibraryName() string { return "ratify." + l.family }

// CompileOptions declares the family's functions with late bindings: a
// policy's programs bind them to one evaluation's builtins.Session (see
// bindings), so the functions see that evaluation's configuration, memo
// and reports.
func (l *library) CompileOptions() []cel.EnvOption {
	var opts []cel.EnvOption
	for _, f := range builtins.Table {
		if f.Family != l.family {
			continue
		}
		args := make([]*cel.Type, len(f.Args))
		for i, a := range f.Args {
			args[i] = celType(a.Type)
		}
		opts = append(opts, cel.Function(f.Name,
			cel.Overload(overloadID(f), args, celType(f.Result), cel.LateFunctionBinding())))
	}
	return opts
}

// ProgramOptions implements cel.Library.
func (l *library) ProgramOptions() []cel.ProgramOption { return nil }

func overloadID(f *builtins.Func) string {
	id := ""
	for _, c := range f.Name {
		if c == '.' {
			c = '_'
		}
		id += string(c)
	}
	for _, a := range f.Args {
		id += "_" + string(a.Type)
	}
	return id
}

func celType(t builtins.Type) *cel.Type {
	switch t {
	case builtins.String:
		return cel.StringType
	case builtins.Object:
		return cel.MapType(cel.StringType, cel.DynType)
	case builtins.Array:
		return cel.ListType(cel.DynType)
	}
	return cel.DynType
}

// evaluation is what a program instance's bindings call into; it is set
// for the duration of one evaluation.
type evaluation struct {
	ctx  context.Context
	sess *builtins.Session
}

// bindings implements every builtin for programs whose evaluations run
// with e.
func bindings(e *evaluation) []*functions.Overload {
	out := make([]*functions.Overload, 0, len(builtins.Table))
	for _, f := range builtins.Table {
		out = append(out, &functions.Overload{Operator: overloadID(f), Function: binding(f, e)})
	}
	return out
}

func binding(f *builtins.Func, e *evaluation) functions.FunctionOp {
	return func(vals ...ref.Val) ref.Val {
		ctx, sess := e.ctx, e.sess
		if sess == nil {
			return types.NewErr("%s: no ratify configuration", f.Name)
		}
		args := make([]any, len(vals))
		for i, v := range vals {
			native, err := toNative(v)
			if err != nil {
				return types.NewErr("%s: argument %d: %v", f.Name, i+1, err)
			}
			args[i] = native
		}
		val, err := sess.CallAs(ctx, f.Name, args, "cel", toVal)
		if err != nil {
			return types.NewErr("%s: %v", f.Name, err)
		}
		return val.(ref.Val)
	}
}
