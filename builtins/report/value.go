package report

import (
	"encoding/json"
)

// Value converts r to the JSON-like value (map[string]any) policies see:
// the JSON form of Report, built directly rather than by encoding and
// decoding, since it is made for every verification.
func (r Report) Value() map[string]any {
	sigs := make([]any, len(r.Signatures))
	for i, s := range r.Signatures {
		sigs[i] = s.value()
	}
	m := map[string]any{
		"verifier": r.Verifier, "subject": r.Subject, "isSuccess": r.IsSuccess,
		"message": r.Message, "signatures": sigs,
	}
	if len(r.Warnings) > 0 {
		w := make([]any, len(r.Warnings))
		for i, s := range r.Warnings {
			w[i] = s
		}
		m["warnings"] = w
	}
	if r.Transient {
		m["transient"] = true
	}
	return m
}

func (s Signature) value() map[string]any {
	m := map[string]any{"digest": s.Digest, "artifactType": s.ArtifactType, "isSuccess": s.IsSuccess}
	if s.Error != "" {
		m["error"] = s.Error
	}
	if s.Signer != "" {
		m["signer"] = s.Signer
	}
	if len(s.Details) > 0 {
		m["details"] = jsonLike(s.Details)
	}
	return m
}

// jsonLike returns v as encoding/json would decode its encoding: numbers
// become float64, and types other than the JSON-like ones go through JSON.
func jsonLike(v any) any {
	switch v := v.(type) {
	case nil, string, bool, float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonLike(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonLike(x)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
