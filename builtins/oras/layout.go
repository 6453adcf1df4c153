package oras

import (
	"context"
	"fmt"
	"io"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
)

// layoutBackend serves references from an OCI-layout directory, so that
// `myregistry.io/app@sha256:...` resolves offline. A tag is looked up as the
// full reference (`host/repo:tag`, as `ratify fixture copy` writes it),
// which answers only for that repository. A bare tag (`v1`, as
// `oras copy --to-oci-layout dir:v1` writes it) names no repository: it
// answers only for references that one of the store's scopes other than
// `*` covers, the repositories the layout is configured to serve. A layout
// without such scopes answers bare tags for no reference, so that, as the
// fallback store, it cannot pass its own `v1` off as another registry's.
// Digests name content, and answer for any repository.
type layoutBackend struct {
	store *oci.ReadOnlyStore
	// scopes are the store's normalised scopes, `*` left out.
	scopes []string
}

func newLayout(ctx context.Context, cfg Config, scopes []string) (*layoutBackend, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("an %s store needs a path", TypeLayout)
	}
	if fi, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("OCI layout %s: not a directory", cfg.Path)
	}
	s, err := oci.NewFromFS(ctx, os.DirFS(cfg.Path))
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", cfg.Path, err)
	}
	b := &layoutBackend{store: s}
	for _, sc := range scopes {
		if sc != "*" {
			b.scopes = append(b.scopes, sc)
		}
	}
	return b, nil
}

func (b *layoutBackend) resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error) {
	if ref.Digest != "" {
		desc, err := b.store.Resolve(ctx, ref.Digest.String())
		if err != nil {
			return desc, err
		}
		// A digest that only names a blob is not an image.
		if desc.MediaType == "" || !IsManifest(desc.MediaType) {
			return b.manifestDescriptor(ctx, desc)
		}
		return desc, nil
	}
	desc, err := b.store.Resolve(ctx, ref.Name()+":"+ref.Tag)
	if err == nil || !scopeMatches(b.scopes, ref) || len(b.scopes) == 0 {
		return desc, err
	}
	return b.store.Resolve(ctx, ref.Tag)
}

// manifestDescriptor types a manifest addressed by digest only (the
// layout's index does not list every referrer) from its own mediaType field.
func (b *layoutBackend) manifestDescriptor(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	rc, err := b.store.Fetch(ctx, desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if err := decodeJSON(rc, desc.Size, &head); err != nil || !IsManifest(head.MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("%s is not a manifest in the layout: %w", desc.Digest, errdef.ErrNotFound)
	}
	desc.MediaType = head.MediaType
	return desc, nil
}

func (b *layoutBackend) referrers(ctx context.Context, subject Reference, artifactType string) ([]ocispec.Descriptor, error) {
	desc, err := b.resolve(ctx, subject)
	if err != nil {
		return nil, err
	}
	return registry.Referrers(ctx, b.store, desc, artifactType)
}

func (b *layoutBackend) fetch(ctx context.Context, _ Reference, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return b.store.Fetch(ctx, desc)
}

func (b *layoutBackend) exists(ctx context.Context, _ Reference, desc ocispec.Descriptor) (bool, error) {
	return b.store.Exists(ctx, desc)
}

func (b *layoutBackend) fetchReference(ctx context.Context, ref Reference, limit int64) (ocispec.Descriptor, []byte, error) {
	desc, err := b.resolve(ctx, ref)
	if err != nil {
		return desc, nil, err
	}
	rc, err := b.store.Fetch(ctx, desc)
	if err != nil {
		return desc, nil, err
	}
	defer rc.Close()
	return readVerified(rc, desc, limit)
}
