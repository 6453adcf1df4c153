package oras

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

// The small interfaces of registry content the families take; *Store
// implements all three.
type (
	// Resolver resolves a reference to its manifest descriptor.
	Resolver interface {
		Resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error)
	}
	// ReferrerLister lists the artifacts attached to a subject, of one
	// artifact type ("" for all).
	ReferrerLister interface {
		Referrers(ctx context.Context, subject Reference, artifactType string) ([]ocispec.Descriptor, error)
	}
	// Fetcher reads a manifest or blob of ref's repository, verified
	// against desc.
	Fetcher interface {
		Fetch(ctx context.Context, ref Reference, desc ocispec.Descriptor) ([]byte, error)
	}
	// Content is all three.
	Content interface {
		Resolver
		ReferrerLister
		Fetcher
	}
)

// Session is what the registry families (oras, notation, cosign) need of
// an evaluation session: its registry content, nil when no store is
// configured.
type Session interface {
	decl.Session
	Content() Content
}

// Builtins are the oras family's declarations.
var Builtins = []*decl.Func{
	{
		Name: "oras.resolve", Family: "oras", SubjectArg: 0,
		Description:       "Resolves an image reference (a tag or a digest) to the manifest it names.",
		Args:              []decl.Arg{{Name: "ref", Type: decl.String, Description: "image reference: host/repo:tag or host/repo@digest"}},
		Result:            decl.Object,
		ResultDescription: "{reference, digest, mediaType, size}; reference is pinned to the digest",
		Impl:              decl.For(resolveBuiltin),
	},
	{
		Name: "oras.referrers", Family: "oras", SubjectArg: 0,
		Description: "Lists the artifacts attached to an image (signatures, SBOMs), optionally of one artifact type (\"\" for all).",
		Args: []decl.Arg{
			{Name: "subject", Type: decl.String, Description: "image reference; a tag is resolved first"},
			{Name: "artifactType", Type: decl.String, Description: "artifact type to keep, or \"\" for every type"},
		},
		Result:            decl.Array,
		ResultDescription: "[{digest, artifactType, mediaType, annotations}]",
		Impl:              decl.For(referrersBuiltin),
	},
}

// contentOf returns the session's content, or ErrNotConfigured.
func contentOf(s Session) (Content, error) {
	c := s.Content()
	if c == nil {
		return nil, fmt.Errorf("%w: no store", decl.ErrNotConfigured)
	}
	return c, nil
}

// Subject parses a subject argument and pins it to a digest. The
// evaluation's own subject was resolved by the engine: its descriptor is
// returned as is; other references are resolved (desc is zero for a
// reference given by digest, which the verifier checks itself).
func Subject(ctx context.Context, s Session, arg string) (Reference, ocispec.Descriptor, error) {
	ref, err := ParseReference(arg)
	if err != nil {
		return ref, ocispec.Descriptor{}, err
	}
	if desc, ok := s.Pinned(arg); ok {
		return ref, desc, nil
	}
	if ref.Digest != "" {
		return ref, ocispec.Descriptor{}, nil
	}
	c, err := contentOf(s)
	if err != nil {
		return ref, ocispec.Descriptor{}, err
	}
	desc, err := c.Resolve(ctx, ref)
	if err != nil {
		return ref, desc, err
	}
	return ref.WithDigest(desc.Digest), desc, nil
}

// Verifier adapts a family's verification to a builtin implementation:
// the subject is pinned first, and a subject that cannot be resolved is a
// failed report of verifier, not an error.
func Verifier(verifier string, verify func(ctx context.Context, c Content, ref Reference, desc ocispec.Descriptor, opts map[string]any) report.Report) decl.Impl {
	return decl.For(func(ctx context.Context, s Session, args []any) (any, error) {
		c, err := contentOf(s)
		if err != nil {
			return nil, err
		}
		opts, _ := args[1].(map[string]any)
		return onShallowStack(func() report.Report {
			ref, desc, err := Subject(ctx, s, args[0].(string))
			if err != nil {
				r := report.Failure(verifier, args[0].(string), fmt.Sprintf("cannot resolve the subject: %v", err))
				r.Transient = IsTransient(err)
				return r
			}
			return verify(ctx, c, ref, desc, opts)
		}), nil
	})
}

func resolveBuiltin(ctx context.Context, s Session, args []any) (any, error) {
	ref, err := ParseReference(args[0].(string))
	if err != nil {
		return nil, err
	}
	desc, ok := s.Pinned(args[0].(string))
	if !ok {
		c, err := contentOf(s)
		if err != nil {
			return nil, err
		}
		if desc, err = c.Resolve(ctx, ref); err != nil {
			return nil, err
		}
	}
	return map[string]any{
		"reference": ref.WithDigest(desc.Digest).String(), "digest": desc.Digest.String(),
		"mediaType": desc.MediaType, "size": desc.Size,
	}, nil
}

func referrersBuiltin(ctx context.Context, s Session, args []any) (any, error) {
	c, err := contentOf(s)
	if err != nil {
		return nil, err
	}
	type listing struct {
		list []ocispec.Descriptor
		err  error
	}
	l := onShallowStack(func() (l listing) {
		ref, _, err := Subject(ctx, s, args[0].(string))
		if err != nil {
			return listing{err: err}
		}
		l.list, l.err = c.Referrers(ctx, ref, args[1].(string))
		return l
	})
	list, err := l.list, l.err
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(list))
	for _, d := range list {
		ann := make(map[string]any, len(d.Annotations))
		for k, v := range d.Annotations {
			ann[k] = v
		}
		out = append(out, map[string]any{
			"digest": d.Digest.String(), "artifactType": d.ArtifactType, "mediaType": d.MediaType, "annotations": ann,
		})
	}
	return out, nil
}
