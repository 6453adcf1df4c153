package sample

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
)

// LayoutRepository is one repository (host/repo) of an OCI layout that
// holds several, as a target to push images and signatures to. Tags are
// written with the repository's name (`host/repo:tag`), as `ratify fixture
// copy` writes them and ratify's oci-layout store reads them, and content
// pushed again (the config blob all cosign signatures share) is stored once,
// as a registry does.
type LayoutRepository struct {
	*oci.Store
	// Name is host/repo.
	Name string
}

// Push stores content, succeeding when it is there already.
func (r LayoutRepository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	err := r.Store.Push(ctx, expected, content)
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}

// Tag tags desc as Name:reference.
func (r LayoutRepository) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	return r.Store.Tag(ctx, desc, r.Name+":"+reference)
}

// Resolve resolves a digest, or a tag of this repository.
func (r LayoutRepository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if _, err := digest.Parse(reference); err != nil {
		reference = r.Name + ":" + reference
	}
	return r.Store.Resolve(ctx, reference)
}
