package oras

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// decodeJSON decodes at most limit bytes of r into v.
func decodeJSON(r io.Reader, limit int64, v any) error {
	return json.NewDecoder(io.LimitReader(r, limit)).Decode(v)
}

// readVerified reads desc's content from r: at most limit bytes, and
// exactly the bytes desc's digest names.
func readVerified(r io.Reader, desc ocispec.Descriptor, limit int64) (ocispec.Descriptor, []byte, error) {
	if desc.Size < 0 || desc.Size > limit {
		return desc, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, desc.Size, limit)
	}
	b, err := readAll(r, desc)
	return desc, b, err
}

// readAll is content.ReadAll (at most desc.Size bytes, and exactly those its
// digest names) with the result trimmed to its length. ReadAll reads into a
// bytes.Buffer sized to the content, which grows to about twice that to
// look for the end; the bytes go into the content cache, where the spare
// capacity would be kept for as long as they are.
func readAll(r io.Reader, desc ocispec.Descriptor) ([]byte, error) {
	b, err := content.ReadAll(r, desc)
	if err != nil || cap(b)-len(b) < 64 {
		return b, err
	}
	return bytes.Clone(b), nil
}
