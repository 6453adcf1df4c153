package sample

import (
	"context"
	"crypto/rand"
	"encoding/json"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// PushImage pushes a small single-layer image with random content (so each
// call makes a new digest) and tags it when tag is set.
func PushImage(ctx context.Context, repo oras.Target, tag string) (ocispec.Descriptor, error) {
	layer := make([]byte, 64)
	_, _ = rand.Read(layer)
	layerDesc, err := PushBlob(ctx, repo, "application/vnd.oci.image.layer.v1.tar", layer)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest.String()}}})
	cfgDesc, err := PushBlob(ctx, repo, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &cfgDesc,
		Layers:           []ocispec.Descriptor{layerDesc},
	})
	if err != nil || tag == "" {
		return desc, err
	}
	return desc, repo.Tag(ctx, desc, tag)
}

// PushArtifact pushes an OCI 1.1 artifact manifest of artifactType whose
// subject is subject, with payload as its one layer.
func PushArtifact(ctx context.Context, repo oras.Target, subject ocispec.Descriptor, artifactType string, payload []byte, annotations map[string]string) (ocispec.Descriptor, error) {
	layer, err := PushBlob(ctx, repo, "application/octet-stream", payload)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: annotations,
	})
}
