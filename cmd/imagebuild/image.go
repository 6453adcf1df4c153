package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Errors a build can fail with.
var (
	ErrNoCABundle  = errors.New("no CA bundle")
	ErrNoPlatform  = errors.New("no platform to build")
	ErrNotStatic   = errors.New("binary is not a static executable for the platform")
	ErrNoGitInfo   = errors.New("version, revision or time unknown")
	ErrLayoutInUse = errors.New("output directory holds something other than an OCI layout")
)

// OCI label keys the image carries.
const (
	labelSource   = "org.opencontainers.image.source"
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
	labelCreated  = "org.opencontainers.image.created"
)

// Spec is everything an image is made from: the same Spec gives the same
// digests.
type Spec struct {
	// Binaries are the static ratify executables, one per platform.
	Binaries []PlatformBinary
	// CABundle is the PEM bundle installed at /etc/ssl/certs.
	CABundle []byte
	// Version, Revision and Source are the OCI labels.
	Version, Revision, Source string
	// Created is every timestamp in the image: the commit time or
	// SOURCE_DATE_EPOCH, never the time of the build.
	Created time.Time
}

// PlatformBinary is the binary of one platform.
type PlatformBinary struct {
	Platform v1.Platform
	Path     string
}

// Build assembles an OCI image index with one image per platform. Each
// image has two layers: the files shared by every platform, then the
// binary.
func Build(s Spec) (v1.ImageIndex, error) {
	if len(s.Binaries) == 0 {
		return nil, ErrNoPlatform
	}
	created := s.Created.UTC().Truncate(time.Second)
	baseTar, err := tarLayer(baseEntries(s.CABundle), created)
	if err != nil {
		return nil, err
	}
	base, err := layerFromBytes(baseTar)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pb := range s.Binaries {
		img, err := platformImage(s, created, base, pb)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pb.Platform, err)
		}
		p := pb.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        plainImage{img},
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

// plainImage keeps an image's index entry free of artifactType, which
// go-containerregistry otherwise fills with the config media type: the
// entry is a runnable image, as docker buildx writes it, not an artifact.
type plainImage struct{ v1.Image }

// ArtifactType is empty: see plainImage.
func (plainImage) ArtifactType() (string, error) { return "", nil }

func platformImage(s Spec, created time.Time, base v1.Layer, pb PlatformBinary) (v1.Image, error) {
	bin, err := os.ReadFile(pb.Path)
	if err != nil {
		return nil, err
	}
	binTar, err := tarLayer(binaryEntries(bin), created)
	if err != nil {
		return nil, err
	}
	top, err := layerFromBytes(binTar)
	if err != nil {
		return nil, err
	}
	cfg := &v1.ConfigFile{
		Architecture: pb.Platform.Architecture,
		OS:           pb.Platform.OS,
		Variant:      pb.Platform.Variant,
		Created:      v1.Time{Time: created},
		Config:       imageConfig(s, created),
		RootFS:       v1.RootFS{Type: "layers"},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "imagebuild: CA certificates, passwd and group (nonroot 65532), /tmp",
		}},
		mutate.Addendum{Layer: top, History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "imagebuild: /ratify (CGO_ENABLED=0 go build -trimpath -ldflags=-s -w ./cmd/ratify)",
		}},
	)
}

// imageConfig is the runtime configuration, the same as the Dockerfile's:
// the chart runs `/ratify serve ...` as 65532 with a read-only root.
func imageConfig(s Spec, created time.Time) v1.Config {
	labels := map[string]string{
		labelVersion: s.Version,
		labelCreated: created.Format(time.RFC3339),
	}
	if s.Revision != "" {
		labels[labelRevision] = s.Revision
	}
	if s.Source != "" {
		labels[labelSource] = s.Source
	}
	return v1.Config{
		User:       imageUser,
		Entrypoint: []string{"/" + binaryPath},
		Cmd:        []string{"serve"},
		WorkingDir: "/",
		Labels:     labels,
	}
}

// layerFromBytes is an OCI layer of an uncompressed tar. Go's gzip gives
// the same bytes for the same input and level, so digests are stable; the
// compressed form is kept after its first use since a 90 MB binary is
// read for the digest and again for the upload.
func layerFromBytes(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	},
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching,
	)
}
