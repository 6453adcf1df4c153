package server

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
)

const gatekeeperBody = `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["registry.example/app@sha256:00","[ns]café:1"]}}`

// What Gatekeeper sends is read without encoding/json, and reads the same.
func TestDecodeFastReadsGatekeeperRequests(t *testing.T) {
	b, _ := json.Marshal(externaldata.NewProviderRequest([]string{"a.example/x:1", "b.example/y@sha256:ab"}))
	for _, body := range []string{gatekeeperBody, string(b), " {\n\"kind\" : \"ProviderRequest\",\t\"request\":{\"keys\":[]},\"apiVersion\":\"v\"}\r\n", `{}`} {
		got, ok := decodeFast([]byte(body))
		if !ok {
			t.Errorf("%s: not read by the fast path", body)
			continue
		}
		var want externaldata.ProviderRequest
		if err := json.Unmarshal([]byte(body), &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast %+v, encoding/json %+v (%v)", body, got, want, err)
		}
	}
}

// Anything outside the subset goes to encoding/json, which decides.
func TestDecodeFastLeavesTheRestToEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"apiVersion":"v","apiVersion":"w"}`,      // repeated: encoding/json keeps the last
		`{"APIVERSION":"v"}`,                       // encoding/json matches names in any case
		`{"request":{"keys":["a\"b"]}}`,            // an escape
		`{"request":{"keys":["a` + "\xff" + `"]}}`, // invalid UTF-8, replaced by encoding/json
		`{"request":{"keys":null}}`, `{"request":null}`, `{"kind":1}`,
		`{"request":{"keys":["a"],"other":1}}`, `{"extra":true}`,
		`{"kind":"ProviderRequest"} x`, `{"kind":"ProviderRequest"`, `[]`, ``, `{"request":{"keys":["a",]}}`,
	} {
		if _, ok := decodeFast([]byte(body)); ok {
			t.Errorf("%s: read by the fast path", body)
		}
	}
}

// FuzzDecodeFast: whatever the body, what the fast path reads is exactly
// what encoding/json reads from it.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{gatekeeperBody, `{}`, `{"request":{"keys":[]}}`, `{"kind":"a","kind":"b"}`, `{"request":{"keys":["\u00e9"]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeFast(body)
		if !ok {
			return
		}
		var want externaldata.ProviderRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("%q: fast path read %+v, encoding/json refuses it: %v", body, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, got, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = "registry.example.com/team/app-" + string(rune('a'+i)) + "@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	}
	body, _ := json.Marshal(externaldata.NewProviderRequest(keys))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeFast(body); !ok {
				b.Fatal("not fast")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r externaldata.ProviderRequest
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
