package oras

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Repository is one repository of a Store as oras-go sees content: a
// read-only graph target (oras.ReadOnlyGraphTarget), so that oras-go's
// functions (oras.ExtendedCopyGraph, oras.Copy, content.Successors) read
// through the store's routing, caches, size limits, digest verification
// and the budget in the context.
//
// Its graph is the referrer graph Store.Referrers reports: the
// predecessors of a manifest are the artifacts whose subject it is (the
// referrers API, or the referrers tag schema on registries without it),
// and, where the store has cosign enabled, the manifest at cosign's
// `sha256-<hex>.sig` tag, typed CosignSignatureArtifactType. That
// signature names no subject, so content.Successors does not lead back
// from it to the image: a copy that wants the image with it walks down
// from the image as well (ratify fixture copy does).
type Repository struct {
	store *Store
	// name is the repository (Registry and Repository, no tag or digest).
	name Reference
}

var (
	_ content.ReadOnlyGraphStorage = (*Repository)(nil)
	_ content.Resolver             = (*Repository)(nil)
)

// Repository returns the view of ref's repository (its tag and digest are
// ignored), served by the store ref routes to; ErrNoStore when no store
// serves it.
func (s *Store) Repository(ref Reference) (*Repository, error) {
	name := Reference{Registry: ref.Registry, Repository: ref.Repository}
	if _, err := s.route("repository", name); err != nil {
		return nil, err
	}
	return &Repository{store: s, name: name}, nil
}

// Name is the repository's canonical `host/repo`.
func (r *Repository) Name() string { return r.name.Name() }

// Reference is the repository's reference at object, a tag or a digest,
// or a full reference of this repository (`host/repo:tag`).
func (r *Repository) Reference(object string) (Reference, error) {
	if d, err := digest.Parse(object); err == nil {
		return r.name.WithDigest(d), nil
	}
	if isTag(object) {
		ref := r.name
		ref.Tag = object
		return ref, nil
	}
	ref, err := ParseReference(object)
	if err != nil {
		return Reference{}, err
	}
	if ref.Name() != r.name.Name() {
		return Reference{}, fmt.Errorf("%w %q: names %s, not the repository %s", ErrInvalidReference, truncate(object), ref.Name(), r.name.Name())
	}
	return ref, nil
}

// Resolve resolves a tag, a digest or a full reference of the repository
// (Store.Resolve).
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	ref, err := r.Reference(reference)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return r.store.Resolve(ctx, ref)
}

// Fetch reads the content target describes (Store.Fetch: bounded by the
// store's limits, verified against the digest and size, cached by digest).
func (r *Repository) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	b, err := r.store.Fetch(ctx, r.name, target)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != target.Size {
		// Cached by digest, the bytes are right; the descriptor is not.
		return nil, &Error{Op: "fetch", Ref: r.name.Name() + "@" + target.Digest.String(), Kind: ErrDigestMismatch,
			Err: fmt.Errorf("%d bytes, the descriptor says %d", len(b), target.Size)}
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Exists reports whether the repository holds target; content the store
// has cached is known to exist without asking.
func (r *Repository) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	name := r.name.Name() + "@" + target.Digest.String()
	if err := target.Digest.Validate(); err != nil {
		return false, &Error{Op: "exists", Ref: name, Kind: ErrInvalidReference, Err: err}
	}
	if _, ok := r.store.content.Get(target.Digest); ok {
		return true, nil
	}
	c, err := r.store.route("exists", r.name)
	if err != nil {
		return false, err
	}
	ok, err := c.backend.exists(ctx, r.name, target)
	if err != nil {
		if err = wrap("exists", name, err); errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return ok, nil
}

// Predecessors lists the artifacts that refer to node (Store.Referrers,
// cosign's tag included where enabled). The slice is the caller's.
func (r *Repository) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if err := node.Digest.Validate(); err != nil {
		return nil, &Error{Op: "referrers", Ref: r.name.Name() + "@" + node.Digest.String(), Kind: ErrInvalidReference, Err: err}
	}
	list, err := r.store.Referrers(ctx, r.name.WithDigest(node.Digest), "")
	if err != nil {
		return nil, err
	}
	// The store's list is cached and shared; oras-go may keep what it gets.
	return slices.Clone(list), nil
}
