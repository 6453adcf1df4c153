package oras

import (
	"encoding/json"
	"io"
)

// decodeJSON decodes at most limit bytes of r into v.
func decodeJSON(r io.Reader, limit int64, v any) error {
	return json.NewDecoder(io.LimitReader(r, limit)).Decode(v)
}
