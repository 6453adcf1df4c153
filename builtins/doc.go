// Package builtins is the registration table of the verification
// functions and the session that runs them for one evaluation.
//
// The families declare their builtins beside their code (oras.Builtins,
// kmp.Builtins, notation.Builtins, cosign.Builtins, each a []*decl.Func);
// Table gathers them, and the engines expose Table to Rego (engine/opa)
// and CEL (engine/cel). Engines never call a family directly: every call
// goes through Session.Call, which layers, outermost first:
//
//  1. the memo (memo.go), per evaluation: a call with the same arguments
//     runs once, and its result, error and report are recorded once;
//  2. the cache (cache.go), across evaluations of one configuration
//     revision and policy scope: a result about an image pinned to a
//     digest, or about no image, is reused until its TTL; transient
//     failures never enter it;
//  3. the family's implementation, guarded so that a panic is an error.
//
// Both layers name a call by key.go's canonical encoding of its name and
// arguments; the cache adds the revision and the scope. A result is kept
// as its family made it (a report.Report for verifiers) and converted to
// each engine's value type once (Session.CallAs), even when cached.
package builtins
