package cosign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/tuf"

	"github.com/seed-12b584bc/ratify/internal/sample"
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

// tlogFixture is a registry with two signed images: withBundle, whose
// signature carries a Rekor bundle from logKey (standing in for Rekor's
// key), and noBundle, whose signature carries none.
type tlogFixture struct {
	reg                 *regtest.Registry
	key                 *testKey
	logKey, otherLogKey *ecdsa.PrivateKey
	withBundle          image
	noBundle            image
	// payload and b64 are withBundle's signed payload and signature.
	payload []byte
	b64     string
}

func newTlogFixture(t *testing.T) *tlogFixture {
	t.Helper()
	f := &tlogFixture{
		reg:         regtest.StartOCI11(t, 0),
		key:         newKey(t, "ECDSA-P256", 0),
		logKey:      freshKey(t, sample.ECDSAP256).(*ecdsa.PrivateKey),
		otherLogKey: freshKey(t, sample.ECDSAP256).(*ecdsa.PrivateKey),
	}
	f.withBundle = pushImage(t, f.reg, "tlog/bundle")
	plain := sign(t, f.key.signer, f.withBundle)
	f.payload, _ = plain.Payload()
	f.b64, _ = plain.Base64Signature()
	sig, err := static.NewSignature(f.payload, f.b64, static.WithBundle(rekorBundle(t, f.logKey, f.payload, f.b64, f.key.pem)))
	if err != nil {
		t.Fatal(err)
	}
	attachTag(t, f.withBundle, sig)

	f.noBundle = pushImage(t, f.reg, "tlog/none")
	attachTag(t, f.noBundle, sign(t, f.key.signer, f.noBundle))
	return f
}

// loaderOf returns a Rekor key loader that trusts pub and counts its calls.
func loaderOf(t *testing.T, pub crypto.PublicKey, calls *atomic.Int32) func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
	pemKey := pemOf(t, pub)
	return func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
		calls.Add(1)
		keys := sigcosign.NewTrustedTransparencyLogPubKeys()
		if err := keys.AddTransparencyLogPubKey([]byte(pemKey), tuf.Active); err != nil {
			return nil, err
		}
		return &keys, nil
	}
}

func TestVerifyTlog(t *testing.T) {
	t.Parallel()
	f := newTlogFixture(t)
	key := f.key

	t.Run("no bundle", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		r := verify(t, f.noBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true})
		wantFailure(t, r, "the transparency log cannot be verified: the signature carries no Rekor bundle")
		if r.Transient || time.Since(start) > 5*time.Second {
			t.Errorf("transient=%v after %s", r.Transient, time.Since(start))
		}
	})

	t.Run("bundle verified offline", func(t *testing.T) {
		t.Parallel()
		r := verify(t, f.withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{pemOf(t, f.otherLogKey.Public()), pemOf(t, f.logKey.Public())}})
		wantSuccess(t, r, 1)
		if r.Signatures[0].Details["tlogVerified"] != true {
			t.Errorf("details = %v", r.Signatures[0].Details)
		}
	})

	t.Run("bundle from another log", func(t *testing.T) {
		t.Parallel()
		r := verify(t, f.withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{map[string]any{"pem": pemOf(t, f.otherLogKey.Public())}}})
		wantFailure(t, r, "the transparency log bundle does not verify")
	})

	t.Run("bundle of another signature", func(t *testing.T) {
		t.Parallel()
		img := pushImage(t, f.reg, "tlog/swapped")
		fresh := sign(t, key.signer, img)
		fp, _ := fresh.Payload()
		fb64, _ := fresh.Base64Signature()
		// The bundle logs withBundle's signature, not this one.
		swapped, _ := static.NewSignature(fp, fb64, static.WithBundle(rekorBundle(t, f.logKey, f.payload, f.b64, key.pem)))
		attachTag(t, img, swapped)
		r := verify(t, img.ref, map[string]any{"keys": keysOpt(key), "tlog": true, "rekorPublicKeys": []any{pemOf(t, f.logKey.Public())}})
		wantFailure(t, r, "the transparency log bundle does not verify")
	})

	t.Run("tlog false ignores the bundle", func(t *testing.T) {
		t.Parallel()
		r := verify(t, f.withBundle.ref, map[string]any{"keys": keysOpt(key)})
		wantSuccess(t, r, 1)
		if r.Signatures[0].Details["tlogVerified"] != false {
			t.Errorf("details = %v", r.Signatures[0].Details)
		}
	})

	t.Run("TUF root hangs", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		rekor := NewRekorKeys(func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			<-release
			return nil, context.Canceled
		})
		rekor.Timeout = 200 * time.Millisecond
		t.Cleanup(func() {
			close(release)
			waitInflight(t, rekor)
		})
		start := time.Now()
		for range 3 { // callers share one fetch and each waits at most the timeout
			r := verifyWith(t, rekor, f.withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true})
			wantFailure(t, r, "no answer within 200ms")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %s", d)
		}
	})

	t.Run("keys from TUF are cached", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		rekor := NewRekorKeys(loaderOf(t, f.logKey.Public(), &calls))
		for range 2 {
			wantSuccess(t, verifyWith(t, rekor, f.withBundle.ref, map[string]any{"keys": keysOpt(key), "tlog": true}), 1)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("loader called %d times", n)
		}
	})
}

// Not parallel: sigstore's TUF client is configured by the environment.
func TestVerifyTlogTUFUnreachable(t *testing.T) {
	f := newTlogFixture(t)
	rekor := NewRekorKeys(sigcosign.GetRekorPubs)
	rekor.Timeout = 5 * time.Second
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
	// Registered after Setenv, so it runs first: the fetch ends before the
	// environment is restored.
	t.Cleanup(func() { waitInflight(t, rekor) })
	start := time.Now()
	r := verifyWith(t, rekor, f.withBundle.ref, map[string]any{"keys": keysOpt(f.key), "tlog": true})
	wantFailure(t, r, "the transparency log could not be verified: Rekor public keys could not be obtained")
	if !r.Transient {
		t.Errorf("an unreachable TUF root is an outage: %+v", r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// The cache's own rules: failures are remembered for RetryAfter, keys for
// TTL, and a panicking loader is an outage, not a crash.
func TestRekorKeys(t *testing.T) {
	t.Parallel()
	logKey := freshKey(t, sample.ECDSAP256)
	errOutage := errors.New("mirror down")

	t.Run("failure remembered", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		rekor := NewRekorKeys(func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			calls.Add(1)
			return nil, errOutage
		})
		for range 3 {
			_, err := rekor.Get(context.Background())
			var unavailable *tlogUnavailableError
			if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "mirror down") {
				t.Fatalf("err = %v", err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("loader called %d times within RetryAfter", n)
		}
	})

	t.Run("retried after RetryAfter", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		rekor := NewRekorKeys(func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			calls.Add(1)
			return nil, errOutage
		})
		rekor.RetryAfter = 0
		for range 2 {
			if _, err := rekor.Get(context.Background()); err == nil {
				t.Fatal("no error")
			}
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("loader called %d times", n)
		}
	})

	t.Run("refreshed after TTL", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		rekor := NewRekorKeys(loaderOf(t, logKey.Public(), &calls))
		rekor.TTL = 0
		for range 2 {
			if keys, err := rekor.Get(context.Background()); err != nil || len(keys.Keys) != 1 {
				t.Fatalf("keys %v, err %v", keys, err)
			}
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("loader called %d times", n)
		}
	})

	t.Run("panic", func(t *testing.T) {
		t.Parallel()
		rekor := NewRekorKeys(func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) { panic("boom") })
		_, err := rekor.Get(context.Background())
		var unavailable *tlogUnavailableError
		if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "panic loading Rekor keys: boom") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("caller's deadline", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		rekor := NewRekorKeys(func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
			<-release
			return nil, errOutage
		})
		t.Cleanup(func() {
			close(release)
			waitInflight(t, rekor)
		})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := rekor.Get(ctx)
		var unavailable *tlogUnavailableError
		if !errors.As(err, &unavailable) || !errors.Is(unavailable.err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// waitInflight waits for rekor's background fetch, if one runs, to end.
func waitInflight(t *testing.T, rekor *RekorKeys) {
	rekor.mu.Lock()
	done := rekor.inflight
	rekor.mu.Unlock()
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
	t.Parallel()
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
