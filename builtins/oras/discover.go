package oras

import (
	"context"

	"github.com/opencontainers/go-digest"
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
// MaxDiscoverDepth.
func (s *Store) Discover(ctx context.Context, ref Reference) (*Node, error) {
	desc, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	root := &Node{Reference: ref.WithDigest(desc.Digest).String(), Digest: desc.Digest, MediaType: desc.MediaType, Size: desc.Size}
	seen := map[digest.Digest]bool{desc.Digest: true}
	if err := s.discover(ctx, ref, root, seen, 1); err != nil {
		return nil, err
	}
	return root, nil
}

func (s *Store) discover(ctx context.Context, ref Reference, n *Node, seen map[digest.Digest]bool, depth int) error {
	n.Referrers = []*Node{}
	if depth > MaxDiscoverDepth {
		return nil
	}
	list, err := s.Referrers(ctx, ref.WithDigest(n.Digest), "")
	if err != nil {
		return err
	}
	for _, d := range list {
		if seen[d.Digest] {
			continue // a cycle cannot be built with digests, but a registry can lie
		}
		seen[d.Digest] = true
		child := &Node{Digest: d.Digest, MediaType: d.MediaType, ArtifactType: d.ArtifactType, Size: d.Size, Annotations: d.Annotations}
		if err := s.discover(ctx, ref, child, seen, depth+1); err != nil {
			return err
		}
		n.Referrers = append(n.Referrers, child)
	}
	return nil
}
