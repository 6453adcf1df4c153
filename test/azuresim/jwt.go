package azuresim

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// The simulators' tokens are JWTs (RFC 7519) signed with ES256, as Entra
// ID's and ACR's are JWTs (they sign with RS256; any JOSE algorithm the
// distribution registry accepts serves here).

var b64 = base64.RawURLEncoding

// signJWT signs claims with key; header fields in extra (such as x5c) are
// added to the protected header.
func signJWT(key *ecdsa.PrivateKey, claims any, extra map[string]any) (string, error) {
	header := map[string]any{"alg": "ES256", "typ": "JWT"}
	for k, v := range extra {
		header[k] = v
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

// errInvalidToken is the error of a token that does not verify.
var errInvalidToken = errors.New("invalid token")

// verifyJWT checks token's ES256 signature with pub and its exp and nbf
// claims at now, and decodes its claims into out.
func verifyJWT(pub *ecdsa.PublicKey, token string, now time.Time, out any) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: not a JWT", errInvalidToken)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("%w: bad signature encoding", errInvalidToken)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return fmt.Errorf("%w: signature does not verify", errInvalidToken)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: bad payload encoding", errInvalidToken)
	}
	if err := checkTimes(payload, now); err != nil {
		return err
	}
	return json.Unmarshal(payload, out)
}

// jwtExpired reports whether token, a JWT, has expired at now. It reads
// the claims without checking the signature: for a front whose upstream
// verifies the signature itself.
func jwtExpired(token string, now time.Time) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return false
	}
	err = checkTimes(payload, now)
	return err != nil && strings.Contains(err.Error(), "expired")
}

// checkTimes checks a JWT payload's exp and nbf claims at now.
func checkTimes(payload []byte, now time.Time) error {
	var times struct {
		Exp int64 `json:"exp"`
		Nbf int64 `json:"nbf"`
	}
	if err := json.Unmarshal(payload, &times); err != nil {
		return fmt.Errorf("%w: %v", errInvalidToken, err)
	}
	if times.Exp == 0 || !now.Before(time.Unix(times.Exp, 0)) {
		return fmt.Errorf("%w: expired at %s", errInvalidToken, time.Unix(times.Exp, 0).UTC().Format(time.RFC3339))
	}
	if times.Nbf != 0 && now.Before(time.Unix(times.Nbf, 0)) {
		return fmt.Errorf("%w: not valid before %s", errInvalidToken, time.Unix(times.Nbf, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// newID is a random identifier for jti claims and trace ids.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
