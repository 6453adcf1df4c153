// Package builtins is the registration table of the verification
// functions: one Go implementation each (in the family packages oras, kmp,
// notation, cosign), declared once here with names, argument and result
// shapes, and exposed by the engine to both Rego and CEL.
//
// Families never import this package; it adapts them. The engine never
// reaches into families directly; it calls through Env.Call, which
// memoizes per evaluation, caches across evaluations, and records reports.
package builtins

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/cosign"
	"github.com/seed-12b584bc/ratify/builtins/notation"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
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
	// Verifies marks verification functions: their result is a report,
	// recorded on the decision.
	Verifies bool

	impl func(ctx context.Context, env *Env, args []any) (any, error)
}

// Table is every builtin, in documentation order.
var Table = []*Func{
	{
		Name: "oras.resolve", Family: "oras", SubjectArg: 0,
		Description:       "Resolves an image reference (a tag or a digest) to the manifest it names.",
		Args:              []Arg{{"ref", String, "image reference: host/repo:tag or host/repo@digest"}},
		Result:            Object,
		ResultDescription: "{reference, digest, mediaType, size}; reference is pinned to the digest",
		impl:              orasResolve,
	},
	{
		Name: "oras.referrers", Family: "oras", SubjectArg: 0,
		Description: "Lists the artifacts attached to an image (signatures, SBOMs), optionally of one artifact type (\"\" for all).",
		Args: []Arg{
			{"subject", String, "image reference; a tag is resolved first"},
			{"artifactType", String, "artifact type to keep, or \"\" for every type"},
		},
		Result:            Array,
		ResultDescription: "[{digest, artifactType, mediaType, annotations}]",
		impl:              orasReferrers,
	},
	{
		Name: "kmp.keys", Family: "kmp", SubjectArg: -1,
		Description:       "The public keys of a key management provider: `name` (cluster-wide) or `namespace/name`.",
		Args:              []Arg{{"provider", String, "provider reference"}},
		Result:            Array,
		ResultDescription: "[{provider, name, version, enabled, algorithm, pem}]",
		impl:              kmpKeys,
	},
	{
		Name: "kmp.certificates", Family: "kmp", SubjectArg: -1,
		Description:       "The certificates of a key management provider: `name` (cluster-wide) or `namespace/name`.",
		Args:              []Arg{{"provider", String, "provider reference"}},
		Result:            Array,
		ResultDescription: "[{provider, name, version, enabled, subject, issuer, notAfter, pem}]",
		impl:              kmpCertificates,
	},
	{
		Name: "notation.verify", Family: "notation", SubjectArg: 0, Verifies: true,
		Description: "Verifies the Notary Project signatures of an image against a trust policy and trust stores.",
		Args: []Arg{
			{"subject", String, "image reference; a tag is resolved first"},
			{"opts", Object, "{trustPolicy, trustStores: {\"ca:certs\": certificates}, warnings?}"},
		},
		Result:            Object,
		ResultDescription: "report: {verifier, subject, isSuccess, message, signatures: [{digest, artifactType, isSuccess, error, signer, details}]}",
		impl:              notationVerify,
	},
	{
		Name: "cosign.verify", Family: "cosign", SubjectArg: 0, Verifies: true,
		Description: "Verifies the cosign signatures of an image with public keys.",
		Args: []Arg{
			{"subject", String, "image reference; a tag is resolved first"},
			{"opts", Object, "{keys: keys from kmp.keys or PEM strings, tlog?: bool, warnings?}"},
		},
		Result:            Object,
		ResultDescription: "report: {verifier, subject, isSuccess, message, signatures: [{digest, artifactType, isSuccess, error, signer, details}]}",
		impl:              cosignVerify,
	},
}

// Lookup returns the builtin named name.
func Lookup(name string) (*Func, bool) {
	for _, f := range Table {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// Families lists the family names in table order.
func Families() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range Table {
		if !seen[f.Family] {
			seen[f.Family] = true
			out = append(out, f.Family)
		}
	}
	return out
}

// subjectRef parses a subject argument and pins it to a digest. The
// evaluation's own subject was resolved by the engine: its descriptor is
// returned as is; other references are resolved (desc is zero for a
// reference given by digest, which the verifier checks itself).
func subjectRef(ctx context.Context, env *Env, s string) (oras.Reference, ocispec.Descriptor, error) {
	ref, err := oras.ParseReference(s)
	if err != nil {
		return ref, ocispec.Descriptor{}, err
	}
	if desc, ok := env.pinned(s); ok {
		return ref, desc, nil
	}
	if ref.Digest != "" {
		return ref, ocispec.Descriptor{}, nil
	}
	desc, err := env.Store.Resolve(ctx, ref)
	if err != nil {
		return ref, desc, err
	}
	return ref.WithDigest(desc.Digest), desc, nil
}

func orasResolve(ctx context.Context, env *Env, args []any) (any, error) {
	ref, err := oras.ParseReference(args[0].(string))
	if err != nil {
		return nil, err
	}
	desc, ok := env.pinned(args[0].(string))
	if !ok {
		if desc, err = env.Store.Resolve(ctx, ref); err != nil {
			return nil, err
		}
	}
	return map[string]any{
		"reference": ref.WithDigest(desc.Digest).String(), "digest": desc.Digest.String(),
		"mediaType": desc.MediaType, "size": desc.Size,
	}, nil
}

func orasReferrers(ctx context.Context, env *Env, args []any) (any, error) {
	ref, _, err := subjectRef(ctx, env, args[0].(string))
	if err != nil {
		return nil, err
	}
	list, err := env.Store.Referrers(ctx, ref, args[1].(string))
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(list))
	for _, d := range list {
		ann := map[string]any{}
		for k, v := range d.Annotations {
			ann[k] = v
		}
		out = append(out, map[string]any{
			"digest": d.Digest.String(), "artifactType": d.ArtifactType, "mediaType": d.MediaType, "annotations": ann,
		})
	}
	return out, nil
}

func kmpKeys(ctx context.Context, env *Env, args []any) (any, error) {
	keys, err := env.KMP.Keys(ctx, args[0].(string), env.Scope)
	if err != nil {
		return nil, err
	}
	return toValue(keys)
}

func kmpCertificates(ctx context.Context, env *Env, args []any) (any, error) {
	certs, err := env.KMP.Certificates(ctx, args[0].(string), env.Scope)
	if err != nil {
		return nil, err
	}
	return toValue(certs)
}

// verifyWith adapts a family's Verify: the subject is pinned first, and a
// subject that cannot be resolved is a failed report, not an error.
func verifyWith(verifier string, verify func(context.Context, *oras.Store, oras.Reference, ocispec.Descriptor, map[string]any) report.Report) func(context.Context, *Env, []any) (any, error) {
	return func(ctx context.Context, env *Env, args []any) (any, error) {
		opts, _ := args[1].(map[string]any)
		ref, desc, err := subjectRef(ctx, env, args[0].(string))
		if err != nil {
			r := report.Failure(verifier, args[0].(string), fmt.Sprintf("cannot resolve the subject: %v", err))
			r.Transient = oras.IsTransient(err)
			return r.Value(), nil
		}
		return verify(ctx, env.Store, ref, desc, opts).Value(), nil
	}
}

var (
	notationVerify = verifyWith("notation", notation.VerifyResolved)
	// cosign reads the subject's digest only.
	cosignVerify = verifyWith("cosign", func(ctx context.Context, s *oras.Store, ref oras.Reference, _ ocispec.Descriptor, opts map[string]any) report.Report {
		return cosign.Verify(ctx, s, ref, opts)
	})
)
