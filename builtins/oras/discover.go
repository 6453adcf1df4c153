package oras

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// MaxDiscoverDepth bounds how deep Discover follows referrers of referrers.
const MaxDiscoverDepth = 5

// Node is an image or artifact with the artifacts that refer to it.
type Node struct {
	Reference    string            `json:"reference,omitempty"`
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Referrers    []*Node           `json:"referrers"`
}

// Discover resolves ref and returns its referrer tree: signatures and other
// artifacts attached to the image, and those attached to them, to
// MaxDiscoverDepth. It is DiscoverGraph over ref's Repository, whose
// predecessors are Store.Referrers.
func (s *Store) Discover(ctx context.Context, ref Reference) (*Node, error) {
	desc, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	repo, err := s.Repository(ref)
	if err != nil {
		return nil, err
	}
	root, err := DiscoverGraph(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	root.Reference = ref.WithDigest(desc.Digest).String()
	return root, nil
}

// DiscoverGraph walks the predecessors of root in g, depth first, to
// MaxDiscoverDepth, each node once. The root node is the subject: its
// digest, media type and size (a layout's index annotations, say, are not
// the image's).
func DiscoverGraph(ctx context.Context, g content.PredecessorFinder, root ocispec.Descriptor) (*Node, error) {
	n := &Node{Digest: root.Digest, MediaType: root.MediaType, Size: root.Size}
	seen := map[digest.Digest]bool{root.Digest: true}
	if err := discover(ctx, g, n, seen, 1); err != nil {
		return nil, err
	}
	return n, nil
}

func discover(ctx context.Context, g content.PredecessorFinder, n *Node, seen map[digest.Digest]bool, depth int) error {
	n.Referrers = []*Node{}
	if depth > MaxDiscoverDepth {
		return nil
	}
	list, err := g.Predecessors(ctx, ocispec.Descriptor{MediaType: n.MediaType, Digest: n.Digest, Size: n.Size})
	if err != nil {
		return err
	}
	for _, d := range list {
		if seen[d.Digest] {
			continue // a cycle cannot be built with digests, but a registry can lie
		}
		seen[d.Digest] = true
		child := &Node{Digest: d.Digest, MediaType: d.MediaType, ArtifactType: d.ArtifactType, Size: d.Size, Annotations: d.Annotations}
		if err := discover(ctx, g, child, seen, depth+1); err != nil {
			return err
		}
		n.Referrers = append(n.Referrers, child)
	}
	return nil
}
