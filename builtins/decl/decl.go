// Package decl is the shape of a builtin: its declaration (name, arguments,
// result, documentation) and its implementation. Each family (oras, kmp,
// notation, cosign) declares its builtins with these types beside its own
// code, as OPA's topdown files do; package builtins gathers them into the
// registration table and runs them in an evaluation session. decl imports
// nothing of ratify, so families and the table can both depend on it.
package decl

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Type is the shape of an argument or result, as both engines declare it.
type Type string

// Types used by the declarations.
const (
	String Type = "string"
	Object Type = "object" // map from string to any
	Array  Type = "array"  // of objects
)

// Arg declares one argument.
type Arg struct {
	Name        string
	Type        Type
	Description string
}

// Func declares one builtin.
type Func struct {
	// Name as called from policy: "<family>.<function>".
	Name        string
	Family      string
	Description string
	Args        []Arg
	Result      Type
	// ResultDescription documents the result shape.
	ResultDescription string
	// SubjectArg is the index of the argument holding an image reference
	// (-1: none). Results are cached across evaluations only when that
	// reference is pinned to a digest, since a tag can move.
	SubjectArg int
	// Verifies marks verification functions: Impl returns a
	// report.Report, which the session records on the decision.
	Verifies bool
	// Impl runs the builtin on arguments already checked against Args
	// (JSON-like values: string, map[string]any, []any). It returns a
	// JSON-like value, or a report.Report when Verifies; an error makes
	// the call undefined in the policy and is recorded as a failed report.
	Impl Impl
}

// Impl is a builtin's implementation.
type Impl func(ctx context.Context, s Session, args []any) (any, error)

// Session is what every implementation sees of the evaluation calling it.
// The session also offers what families need (registries, key management
// providers); a family states that need as an interface embedding Session
// and implements with For, so it depends on nothing larger than it uses.
type Session interface {
	// Scope is the namespace of the policy evaluated ("" for cluster-wide).
	Scope() string
	// Pinned returns the descriptor the engine resolved ref to, when ref is
	// the evaluation's own subject, so builtins do not resolve it again.
	Pinned(ref string) (ocispec.Descriptor, bool)
}

// ErrNotConfigured is returned by a builtin whose family has nothing to
// work with in this configuration (no store, no key management provider).
var ErrNotConfigured = errors.New("not configured")

// For adapts an implementation that needs a richer session S: a session
// that is not an S (a test's, a tool's) makes the call fail with
// ErrNotConfigured instead of panicking.
func For[S Session](f func(ctx context.Context, s S, args []any) (any, error)) Impl {
	return func(ctx context.Context, s Session, args []any) (any, error) {
		ss, ok := s.(S)
		if !ok {
			return nil, fmt.Errorf("%w: the session offers no %s", ErrNotConfigured, reflect.TypeFor[S]())
		}
		return f(ctx, ss, args)
	}
}

// TypeName names the type of a JSON-like value in the words a policy
// author uses, for error messages: "null", "a boolean", "a string", "a
// number", "a list", "an object".
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case float64, float32, int, int64, interface{ Float64() (float64, error) }:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
