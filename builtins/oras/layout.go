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
// full reference (`host/repo:tag`, as `ratify fixture copy` and oras write
// it) and then as the bare tag.
type layoutBackend struct {
	store *oci.ReadOnlyStore
}

func newLayout(ctx context.Context, cfg Config) (*layoutBackend, error) {
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
	return &layoutBackend{store: s}, nil
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
	if err == nil {
		return desc, nil
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
