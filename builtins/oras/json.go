package oras

import (
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
	b, err := content.ReadAll(r, desc)
	return desc, b, err
}
