package kmp

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestValuesAreTheJSONForm: kmp.keys and kmp.certificates return exactly
// the JSON form of Key and Certificate, built without encoding.
func TestValuesAreTheJSONForm(t *testing.T) {
	t.Parallel()
	k := Key{Provider: "p", Name: "n", Version: "1", Enabled: true, Algorithm: "ECDSA-P256", PEM: "pem"}
	c := Certificate{Provider: "p", Name: "n", Version: "2", Subject: "CN=a", Issuer: "CN=b",
		NotAfter: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), PEM: "pem"}
	for name, pair := range map[string][2]any{
		"key":         {k, k.Value()},
		"certificate": {c, c.Value()},
		"zero key":    {Key{}, Key{}.Value()},
	} {
		b, _ := json.Marshal(pair[0])
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pair[1], want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, pair[1], want)
		}
	}
	if values[Key](nil, Key.Value) != nil {
		t.Error("no keys must stay null")
	}
}
