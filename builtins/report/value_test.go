package report

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestValueIsTheJSONForm: policies see exactly the JSON form of a report,
// whatever it holds; Value builds it without encoding, so it must not
// drift from the struct's tags.
func TestValueIsTheJSONForm(t *testing.T) {
	t.Parallel()
	cases := map[string]Report{
		"failure":      Failure("kmp.keys", "", "unknown provider"),
		"zero":         {},
		"empty fields": {Verifier: "cosign", Signatures: []Signature{{}}},
		"full": {
			Verifier: "notation", Subject: "r/app@sha256:abc", IsSuccess: true, Message: "ok",
			Warnings: []string{"w1", "w2"}, Transient: true,
			Signatures: []Signature{{
				Digest: "sha256:def", ArtifactType: "application/vnd.cncf.notary.signature", IsSuccess: true,
				Error: "e", Signer: "CN=x",
				Details: map[string]any{
					"layer": 2, "big": int64(1 << 40), "ratio": 0.5, "skipped": true, "none": nil,
					"loggedFailures": []any{map[string]any{"type": "revocation", "error": "x"}},
					"strings":        []string{"a", "b"},
					"nested":         map[string]string{"k": "v"},
				},
			}},
		},
	}
	for name, r := range cases {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if name == "zero" {
			// A report always lists its signatures, if none.
			want["signatures"] = []any{}
		}
		if got := r.Value(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
	}
}
