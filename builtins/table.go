package builtins

import (
	"fmt"

	"github.com/seed-12b584bc/ratify/builtins/cosign"
	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/notation"
	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// The declaration types, for engines and tools that only read the table.
type (
	Func = decl.Func
	Arg  = decl.Arg
	Type = decl.Type
)

// Argument and result types.
const (
	String = decl.String
	Object = decl.Object
	Array  = decl.Array
)

// Table is every builtin, in documentation order: one family after
// another. A new family adds its Builtins here.
var Table = concat(oras.Builtins, kmp.Builtins, notation.Builtins, cosign.Builtins)

var byName = index(Table)

// Lookup returns the builtin named name.
func Lookup(name string) (*Func, bool) {
	f, ok := byName[name]
	return f, ok
}

// Families lists the family names in table order.
func Families() []string {
	var out []string
	for i, f := range Table {
		if i == 0 || Table[i-1].Family != f.Family {
			out = append(out, f.Family)
		}
	}
	return out
}

func concat(families ...[]*decl.Func) []*decl.Func {
	var out []*decl.Func
	for _, fs := range families {
		out = append(out, fs...)
	}
	return out
}

// index maps names to declarations; a name declared twice, or a
// declaration without an implementation, is a programming error caught at
// start-up (and by every test).
func index(table []*decl.Func) map[string]*decl.Func {
	m := make(map[string]*decl.Func, len(table))
	for _, f := range table {
		if _, dup := m[f.Name]; dup || f.Impl == nil {
			panic(fmt.Sprintf("builtins: %s declared twice or without an implementation", f.Name))
		}
		m[f.Name] = f
	}
	return m
}

// checkArgs checks args against f's declaration.
func checkArgs(f *Func, args []any) error {
	if len(args) != len(f.Args) {
		return fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArgument, f.Name, len(f.Args), len(args))
	}
	for i, a := range f.Args {
		if err := checkType(a.Type, args[i]); err != nil {
			return fmt.Errorf("%w: %s argument %d (%s): %v", ErrBadArgument, f.Name, i+1, a.Name, err)
		}
	}
	return nil
}

func checkType(t Type, v any) error {
	ok := false
	switch t {
	case String:
		_, ok = v.(string)
	case Object:
		_, ok = v.(map[string]any)
	case Array:
		_, ok = v.([]any)
	default:
		ok = true
	}
	if !ok {
		return fmt.Errorf("want %s, got %s", t, decl.TypeName(v))
	}
	return nil
}
