package cosign

import (
	"context"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

// A key's text is parsed once per engine: the same text answers the same
// parsed key, a failure is not remembered, the memo stays within its bound,
// and an evaluation without the engine's memos parses every time.
func TestKeyMemo(t *testing.T) {
	ctx := decl.WithMemos(context.Background(), decl.NewMemos())
	memo := keyMemo(ctx)
	if keyMemo(ctx) != memo {
		t.Fatal("the same memos gave two key memos")
	}
	text := pemOf(t, freshKey(t, sample.ECDSAP256).Public())
	first, err := loadKey(memo, text)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadKey(memo, text)
	if err != nil || again != first {
		t.Fatalf("the same text parsed again: %v", err)
	}
	o, err := ParseOptions(map[string]any{"keys": []any{text, map[string]any{"name": "k", "pem": text}}})
	if err != nil || len(o.Keys) != 2 || o.Keys[0].Signer != "key[0]" || o.Keys[1].Signer != "k" || o.Keys[1].Algorithm != "ECDSA-P256" {
		t.Fatalf("%+v %v", o.Keys, err)
	}
	bad := strings.Replace(text, "PUBLIC KEY", "PRIVATE KEY", 2)
	for i := 0; i < 2; i++ {
		if _, err := loadKey(memo, bad); err == nil || !strings.Contains(err.Error(), "never give a private key") {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	for i := 0; i < 2*keyMemoBytes/2048; i++ {
		if _, err := loadKey(memo, pemOf(t, freshKey(t, sample.ECDSAP256).Public())); err != nil {
			t.Fatal(err)
		}
	}
	if n := memo.Size(); n > keyMemoBytes {
		t.Fatalf("%d bytes remembered, bound %d", n, keyMemoBytes)
	}
	none := keyMemo(context.Background())
	a, errA := loadKey(none, text)
	b, errB := loadKey(none, text)
	if errA != nil || errB != nil || a == b {
		t.Fatalf("without memos a key was remembered (%v, %v)", errA, errB)
	}
}
