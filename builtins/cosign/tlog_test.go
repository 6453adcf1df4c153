package cosign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/tuf"

	"github.com/seed-12b584bc/ratify/test/regtest"
)

// rekorBundle makes the bundle Rekor would return for a hashedrekord entry
// of (payload, b64sig, signer key), its signed entry timestamp made with
// logKey standing in for Rekor's key.
func rekorBundle(t *testing.T, logKey *ecdsa.PrivateKey, payload []byte, b64sig, pubPEM string) *bundle.RekorBundle {
	t.Helper()
	h := sha256.Sum256(payload)
	entry, _ := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(h[:])}},
			"signature": map[string]any{
				"content":   b64sig,
				"publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString([]byte(pubPEM))},
			},
		},
	})
	logID, err := sigcosign.GetTransparencyLogID(logKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := bundle.RekorPayload{Body: base64.StdEncoding.EncodeToString(entry), IntegratedTime: time.Now().Unix(), LogIndex: 42, LogID: logID}
	raw, _ := json.Marshal(p)
	canon, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(canon)
	set, err := ecdsa.SignASN1(rand.Reader, logKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return &bundle.RekorBundle{SignedEntryTimestamp: set, Payload: p}
}

// resetRekorKeys forgets cached Rekor keys and restores the loader and
// bounds when the test ends.
func resetRekorKeys(t *testing.T) {
	t.Helper()
	saved := struct {
		get                 func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error)
		timeout, retry, ttl time.Duration
	}{getRekorPubs, rekorKeysTimeout, rekorKeysRetryAfter, rekorKeysTTL}
	clear := func() {
		rekorKeys.mu.Lock()
		rekorKeys.keys, rekorKeys.err, rekorKeys.inflight = nil, nil, nil
		rekorKeys.mu.Unlock()
	}
	clear()
	t.Cleanup(func() {
		clear()
		getRekorPubs, rekorKeysTimeout, rekorKeysRetryAfter, rekorKeysTTL = saved.get, saved.timeout, saved.retry, saved.ttl
	})
}

func TestVerifyTlog(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	key := newKey(t, "ECDSA-P256", 0)
	logKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherLogKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	// An image whose signature carries a Rekor bundle from logKey.
	withBundle := pushImage(t, reg, "tlog/bundle")
	plain := sign(t, key.signer, withBundle)
	p, _ := plain.Payload()
	b64, _ := plain.Base64Signature()
	sig, err := static.NewSignature(p, b64, static.WithBundle(rekorBundle(t, logKey, p, b64, key.pem)))
	if err != nil {
		t.Fatal(err)
	}
	attachTag(t, withBundle, sig)

	noBundle := pushImage(t, reg, "tlog/none")
	attachTag(t, noBundle, sign(t, key.signer, noBundle))

	t.Run("no bundle", func(t *testing.T) {
		start := time.Now()
		r := verify(t, noBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true})
		wantFailure(t, r, "the transparency log cannot be verified: the signature carries no Rekor bundle")
		if r.Transient || time.Since(start) > 5*time.Second {
			t.Errorf("transient=%v after %s", r.Transient, time.Since(start))
		}
	})

	t.Run("bundle verified offline", func(t *testing.T) {
		r := verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{pemOf(t, otherLogKey.Public()), pemOf(t, logKey.Public())}})
		wantSuccess(t, r, 1)
		if r.Signatures[0].Details["tlogVerified"] != true {
			t.Errorf("details = %v", r.Signatures[0].Details)
		}
	})

	t.Run("bundle from another log", func(t *testing.T) {
		r := verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{map[string]any{"pem": pemOf(t, otherLogKey.Public())}}})
		wantFailure(t, r, "the transparency log bundle does not verify")
	})

	t.Run("bundle of another signature", func(t *testing.T) {
		img := pushImage(t, reg, "tlog/swapped")
		fresh := sign(t, key.signer, img)
		fp, _ := fresh.Payload()
		fb64, _ := fresh.Base64Signature()
		// The bundle logs sig's signature, not this one.
		swapped, _ := static.NewSignature(fp, fb64, static.WithBundle(rekorBundle(t, logKey, p, b64, key.pem)))
		attachTag(t, img, swapped)
		r := verify(t, img.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{pemOf(t, logKey.Public())}})
		wantFailure(t, r, "the transparency log bundle does not verify")
	})

	t.Run("tlog false ignores the bundle", func(t *testing.T) {
		r := verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key)})
		wantSuccess(t, r, 1)
		if r.Signatures[0].Details["tlogVerified"] != false {
			t.Errorf("details = %v", r.Signatures[0].Details)
		}
	})

	t.Run("TUF root unreachable", func(t *testing.T) {
		resetRekorKeys(t)
		rekorKeysTimeout = 5 * time.Second
		// Point sigstore's TUF client at a closed loopback port, so nothing
		// leaves the machine and the refresh fails.
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		mirror := "http://" + l.Addr().String()
		l.Close()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "remote.json"), []byte(`{"mirror":"`+mirror+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TUF_ROOT", dir)
		t.Setenv("HOME", dir)
		t.Setenv("SIGSTORE_REKOR_PUBLIC_KEY", "")
		start := time.Now()
		r := verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true})
		wantFailure(t, r, "the transparency log could not be verified: Rekor public keys could not be obtained")
		if !r.Transient {
			t.Errorf("an unreachable TUF root is an outage: %+v", r)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s", d)
		}
	})

	t.Run("TUF root hangs", func(t *testing.T) {
		resetRekorKeys(t)
		release := make(chan struct{})
		getRekorPubs = func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			<-release
			return nil, context.Canceled
		}
		rekorKeysTimeout = 200 * time.Millisecond
		t.Cleanup(func() {
			close(release)
			waitInflight(t)
		})
		start := time.Now()
		for range 3 { // callers share one fetch and each waits at most the timeout
			r := verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true})
			wantFailure(t, r, "no answer within 200ms")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})

	t.Run("keys from TUF are cached", func(t *testing.T) {
		resetRekorKeys(t)
		calls := 0
		getRekorPubs = func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			calls++
			keys := sigcosign.NewTrustedTransparencyLogPubKeys()
			if err := keys.AddTransparencyLogPubKey([]byte(pemOf(t, logKey.Public())), tuf.Active); err != nil {
				return nil, err
			}
			return &keys, nil
		}
		for range 2 {
			wantSuccess(t, verify(t, withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true}), 1)
		}
		if calls != 1 {
			t.Errorf("loader called %d times", calls)
		}
	})
}

func waitInflight(t *testing.T) {
	rekorKeys.mu.Lock()
	done := rekorKeys.inflight
	rekorKeys.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the Rekor key fetch did not end")
		}
	}
}

// A malformed bundle annotation fails only when the log is required.
func TestVerifyMalformedBundle(t *testing.T) {
	reg := regtest.StartOCI11(t, 0)
	key := newKey(t, "ECDSA-P256", 0)
	img := pushImage(t, reg, "tlog/malformed")
	plain := sign(t, key.signer, img)
	p, _ := plain.Payload()
	b64, _ := plain.Base64Signature()
	sig, _ := static.NewSignature(p, b64, static.WithAnnotations(map[string]string{static.BundleAnnotationKey: `{"Payload":{"body":7}}`}))
	attachTag(t, img, sig)
	wantSuccess(t, verify(t, img.ref, map[string]any{"keys": keysOpt(key)}), 1)
	r := verify(t, img.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{key.pem}})
	wantFailure(t, r, "has no entry body")
	if !strings.Contains(r.Message, "transparency log") {
		t.Errorf("message = %q", r.Message)
	}
}
