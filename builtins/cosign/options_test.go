package cosign

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	p256 := newKey(t, "ECDSA-P256", 0)
	ed := newKey(t, "Ed25519", 0)
	rsa1024 := freshKey(t, "RSA-1024")
	rsa3072 := freshKey(t, sample.RSA3072)
	p224 := freshKey(t, "ECDSA-P224")
	privPEM, err := sample.PrivateKeyPEM(p256.priv)
	if err != nil {
		t.Fatal(err)
	}
	garbageDER := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER")}))

	cases := []struct {
		name string
		opts map[string]any
		err  string // substring; empty means valid
		keys int
	}{
		{"empty", map[string]any{}, "", 0},
		{"nil values ignored", map[string]any{"keys": nil, "tlog": nil}, "", 0},
		{"rsa 3072", map[string]any{"keys": []any{pemOf(t, rsa3072.Public())}}, "", 1},
		{"rsa 1024 rejected", map[string]any{"keys": []any{pemOf(t, rsa1024.Public())}}, "keys[0]: RSA key of 1024 bits is too weak: at least 2048 bits are required", 0},
		{"rsa 1024 in kmp object", map[string]any{"keys": []any{map[string]any{"provider": "kmp", "name": "old", "pem": pemOf(t, rsa1024.Public())}}}, "keys[0] (kmp/old): RSA key of 1024 bits is too weak", 0},
		{"p224 rejected", map[string]any{"keys": []any{pemOf(t, p224.Public())}}, "ECDSA curve P-224 is not supported", 0},
		{"private key", map[string]any{"keys": []any{privPEM}}, "never give a private key", 0},
		{"garbage DER", map[string]any{"keys": []any{garbageDER}}, "cannot parse the public key", 0},
		{"two blocks", map[string]any{"keys": []any{p256.pem + ed.pem}}, "more than one PEM block", 0},
		{"trailing text", map[string]any{"keys": []any{p256.pem + "junk"}}, "text after the PEM block", 0},
		{"keys not a list", map[string]any{"keys": p256.pem}, "keys: want a list", 0},
		{"key a number", map[string]any{"keys": []any{json.Number("1")}}, "keys[0]: want a kmp.keys object or a PEM string, got a number", 0},
		{"enabled not bool", map[string]any{"keys": []any{map[string]any{"pem": p256.pem, "enabled": "false"}}}, "keys[0].enabled: want true or false", 0},
		{"name not string", map[string]any{"keys": []any{map[string]any{"pem": p256.pem, "name": 3.0}}}, "keys[0].name: want a string, got a number", 0},
		{"disabled skipped", map[string]any{"keys": []any{map[string]any{"pem": p256.pem, "enabled": false}, ed.pem}}, "", 1},
		{"disabled bad key still skipped", map[string]any{"keys": []any{map[string]any{"pem": "junk", "enabled": false}}}, "", 0},
		{"tlog", map[string]any{"tlog": true}, "", 0},
		{"tlog number", map[string]any{"tlog": 1.0}, "tlog: want true or false, got a number", 0},
		{"rekor keys", map[string]any{"rekorPublicKeys": []any{p256.pem}}, "", 0},
		{"rekor key not ecdsa", map[string]any{"rekorPublicKeys": []any{ed.pem}}, "rekorPublicKeys[0]: Rekor keys are ECDSA", 0},
		{"rekor keys not a list", map[string]any{"rekorPublicKeys": "x"}, "rekorPublicKeys: want a list", 0},
		{"warnings", map[string]any{"warnings": []any{"a", "b"}}, "", 0},
		{"warnings not strings", map[string]any{"warnings": []any{true}}, "warnings[0]: want a string, got a boolean", 0},
		{"unknown", map[string]any{"keyless": map[string]any{}}, `unknown option "keyless"`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o, err := ParseOptions(c.opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Keys) != c.keys {
				t.Errorf("%d keys, want %d", len(o.Keys), c.keys)
			}
		})
	}

	o, err := ParseOptions(map[string]any{"tlog": true, "warnings": []any{"w"}, "rekorPublicKeys": []any{p256.pem},
		"keys": []any{map[string]any{"provider": "p", "name": "n", "version": "1", "enabled": true, "pem": ed.pem}}})
	if err != nil {
		t.Fatal(err)
	}
	if !o.TLog || len(o.Warnings) != 1 || o.RekorPublicKeys == nil || len(o.RekorPublicKeys.Keys) != 1 ||
		o.Keys[0].Signer != "p/n@1" || o.Keys[0].Algorithm != "Ed25519" {
		t.Errorf("options = %+v", o)
	}
}

func FuzzParseOptions(f *testing.F) {
	var keys []string
	for _, alg := range []string{"ECDSA-P256", "ECDSA-P384", "RSA-2048", "Ed25519"} {
		keys = append(keys, newKey(f, alg, 0).pem)
	}
	seed := func(v any) {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	seed(map[string]any{"keys": keys, "tlog": false})
	seed(map[string]any{"keys": []any{map[string]any{"provider": "p", "name": "n", "version": "v", "enabled": false, "algorithm": "x", "pem": keys[0]}, keys[3]}})
	seed(map[string]any{"tlog": true, "rekorPublicKeys": []any{keys[0], map[string]any{"pem": keys[1]}}, "warnings": []any{"w"}})
	seed(map[string]any{"keys": []any{strings.Replace(keys[2], "A", "B", 3), keys[0] + keys[1], "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}})
	seed(map[string]any{"keys": "x", "tlog": "true", "warnings": []any{1}})
	f.Add([]byte(`{"keys":[{"pem":null,"enabled":null}],"other":1}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // the engine may hand numbers as json.Number
		var opts map[string]any
		if dec.Decode(&opts) != nil {
			return
		}
		// Verify must turn any options into a one-line failed report (there
		// is no store), never a panic.
		r := Verify(t.Context(), nil, image{}.ref, opts)
		if r.IsSuccess || r.Message == "" || strings.Contains(r.Message, "\n") {
			t.Fatalf("report = %+v", r)
		}
		o, err := ParseOptions(opts)
		if err != nil {
			return
		}
		for _, k := range o.Keys {
			if k.PublicKey == nil || len(k.schemes) == 0 || k.Signer == "" || k.Algorithm == "" {
				t.Fatalf("incomplete key %+v", k)
			}
		}
		if o.RekorPublicKeys != nil && len(o.RekorPublicKeys.Keys) == 0 {
			t.Fatal("empty Rekor key set")
		}
	})
}
