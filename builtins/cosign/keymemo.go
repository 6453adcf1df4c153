package cosign

import (
	"context"
	"crypto"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Every cosign.verify call passes its keys as PEM text (kmp.keys results
// or strings in the policy), and parsing one (x509's PKIX decoding and the
// curve point check, then sigstore's verifiers) cost more CPU than
// verifying the signature with it. A key's text always parses to the same
// key, so parsed keys are remembered by their text: a pure function's
// memo, bounded in bytes, with nothing a verdict depends on but the text.
const keyMemoBytes = 1 << 20

// parsedKey is what a public key's PEM text parses to; shared by every
// Options that names the key, so read-only.
type parsedKey struct {
	pub     crypto.PublicKey
	alg     string
	schemes []scheme
}

// keyMemo is the engine's memo of parsed keys that ctx carries (nil: the
// caller keeps none, and every key is parsed).
func keyMemo(ctx context.Context) *lru.Cache[string, *parsedKey] {
	return decl.Memo(decl.MemosFrom(ctx), "cosign.keys", func() *lru.Cache[string, *parsedKey] {
		return lru.New[string, *parsedKey](keyMemoBytes, 0)
	})
}

// loadKey parses pemText (parsePublicKeyPEM, schemesFor), or returns what
// it parsed to before in memo. Failures are not remembered.
func loadKey(memo *lru.Cache[string, *parsedKey], pemText string) (*parsedKey, error) {
	if p, ok := memo.Get(pemText); ok {
		return p, nil
	}
	pub, err := parsePublicKeyPEM(pemText)
	if err != nil {
		return nil, err
	}
	alg, schemes, err := schemesFor(pub)
	if err != nil {
		return nil, err
	}
	p := &parsedKey{pub: pub, alg: alg, schemes: schemes}
	// The text, and about what a parsed RSA-4096 key and its verifiers hold.
	memo.Add(pemText, p, int64(len(pemText))+2048)
	return p, nil
}
