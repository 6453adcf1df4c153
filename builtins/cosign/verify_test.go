package cosign

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// registries are the two real registries signatures are pushed to: the
// in-process OCI 1.1 one and the distribution binary (tag-schema referrers).
func registries(t *testing.T) map[string]*regtest.Registry {
	t.Helper()
	return map[string]*regtest.Registry{
		"oci11":        regtest.StartOCI11(t, 0),
		"distribution": regtest.StartDistribution(t, regtest.DistributionOptions{}),
	}
}

func TestVerifyEachAlgorithm(t *testing.T) {
	t.Parallel()
	for regName, reg := range registries(t) {
		for _, alg := range algorithms {
			t.Run(regName+"/"+alg, func(t *testing.T) {
				t.Parallel()
				key := newKey(t, alg, 0)
				img := pushImage(t, reg, "alg/"+strings.ToLower(alg))
				attachTag(t, img, sign(t, key.signer, img))
				r := verify(t, img.ref, map[string]any{"keys": keysOpt(newKey(t, alg, 1), key)})
				wantSuccess(t, r, 1)
				s := r.Signatures[0]
				if s.Signer != "key[1]" || s.Details["keyAlgorithm"] != alg || s.Details["tlogVerified"] != false {
					t.Errorf("signature = %+v", s)
				}
				if s.ArtifactType != oras.CosignSignatureArtifactType || !strings.HasPrefix(s.Digest, "sha256:") {
					t.Errorf("signature = %+v", s)
				}
				if r.Message != "1 of 1 cosign signatures verified" || r.Subject != img.ref.String() {
					t.Errorf("report = %+v", r)
				}
			})
		}
	}
}

// Signatures made with SHA-256 on P-384/P-521 or pure Ed25519 (older cosign,
// what `cosign verify --key` checks by default) verify too.
func TestVerifyAlternateSchemes(t *testing.T) {
	t.Parallel()
	reg := regtest.StartOCI11(t, 0)
	for _, alg := range []string{"ECDSA-P384", "ECDSA-P521", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			key := newKey(t, alg, 0)
			signer, err := signature.LoadSignerVerifier(key.priv, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			img := pushImage(t, reg, "scheme/"+strings.ToLower(alg))
			attachTag(t, img, sign(t, signer, img))
			r := verify(t, img.ref, map[string]any{"keys": keysOpt(key)})
			wantSuccess(t, r, 1)
			want := "SHA256"
			if alg == "Ed25519" {
				want = "Ed25519"
			}
			if got := r.Signatures[0].Details["signatureScheme"]; got != want {
				t.Errorf("scheme = %v, want %s", got, want)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	for regName, reg := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			t.Parallel()
			key, other := newKey(t, "ECDSA-P256", 0), newKey(t, "ECDSA-P256", 1)
			opts := map[string]any{"keys": keysOpt(key)}

			t.Run("other key", func(t *testing.T) {
				t.Parallel()
				img := pushImage(t, reg, "fail/otherkey")
				attachTag(t, img, sign(t, other.signer, img))
				r := verify(t, img.ref, opts)
				wantFailure(t, r, "no key verifies the signature")
				if len(r.Signatures) != 1 || r.Signatures[0].Error != "no key verifies the signature" || r.Transient {
					t.Errorf("report = %+v", r)
				}
			})

			t.Run("signature of another image", func(t *testing.T) {
				t.Parallel()
				a, b := pushImage(t, reg, "fail/copied"), pushImage(t, reg, "fail/copied")
				attachTag(t, b, sign(t, key.signer, a)) // a's signature on b's .sig tag
				r := verify(t, b.ref, opts)
				want := fmt.Sprintf("the signature is for %s, not %s", a.desc.Digest, b.desc.Digest)
				wantFailure(t, r, want)
				if r.Signatures[0].Error != want || r.Signatures[0].Details["key"] != "key[0]" {
					t.Errorf("signature = %+v", r.Signatures[0])
				}
			})

			t.Run("unsigned", func(t *testing.T) {
				t.Parallel()
				img := pushImage(t, reg, "fail/unsigned")
				r := verify(t, img.ref, opts)
				wantFailure(t, r, "no cosign signatures found for "+img.ref.String())
				if len(r.Signatures) != 0 || r.Transient {
					t.Errorf("report = %+v", r)
				}
			})

			t.Run("one good one bad", func(t *testing.T) {
				t.Parallel()
				img := pushImage(t, reg, "fail/mixed")
				attachTag(t, img, sign(t, other.signer, img), sign(t, key.signer, img))
				r := verify(t, img.ref, opts)
				wantFailure(t, r, "1 of 2 cosign signatures verified")
				ok := 0
				for _, s := range r.Signatures {
					if s.IsSuccess {
						ok++
					}
					if _, has := s.Details["layer"]; !has {
						t.Errorf("a manifest with two signatures must name the layer: %+v", s)
					}
				}
				if len(r.Signatures) != 2 || ok != 1 || r.Signatures[0].Digest != r.Signatures[1].Digest {
					t.Errorf("signatures = %+v", r.Signatures)
				}
			})
		})
	}
}

// OCI 1.1 referrers of cosign's artifact type are verified next to the .sig tag.
func TestVerifyReferrers(t *testing.T) {
	t.Parallel()
	reg := regtest.StartOCI11(t, 0)
	key, other := newKey(t, "ECDSA-P256", 0), newKey(t, "ECDSA-P256", 1)
	opts := map[string]any{"keys": keysOpt(key)}

	img := pushImage(t, reg, "ref/oras")
	d := attachReferrer(t, img, sign(t, key.signer, img))
	r := verify(t, img.ref, opts)
	wantSuccess(t, r, 1)
	if r.Signatures[0].Digest != d.String() {
		t.Errorf("digest = %s, want %s", r.Signatures[0].Digest, d)
	}

	// cosign's own OCI 1.1 writer (config media type as artifact type).
	img2 := pushImage(t, reg, "ref/cosign")
	attachTag(t, img2, sign(t, key.signer, img2))
	// The entity now carries the .sig tag's signature; cosign writes it again
	// as a referrer.
	se, err := ociremote.SignedEntity(img2.digestRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignaturesExperimentalOCI(img2.digestRef, se); err != nil {
		t.Fatal(err)
	}
	wantSuccess(t, verify(t, img2.ref, opts), 2)

	// A bad referrer next to a good .sig tag fails the report, not the good one.
	attachReferrer(t, img2, sign(t, other.signer, img2))
	r = verify(t, img2.ref, opts)
	wantFailure(t, r, "2 of 3 cosign signatures verified")
}

func TestVerifyKeyForms(t *testing.T) {
	t.Parallel()
	reg := regtest.StartOCI11(t, 0)
	key, other := newKey(t, "ECDSA-P256", 0), newKey(t, "ECDSA-P256", 1)
	img := pushImage(t, reg, "keys/forms")
	attachTag(t, img, sign(t, key.signer, img))

	kmp := func(provider, name, version string, enabled any, k *testKey) map[string]any {
		return map[string]any{"provider": provider, "name": name, "version": version, "enabled": enabled, "algorithm": k.alg, "pem": k.pem}
	}
	cases := []struct {
		name    string
		keys    []any
		signer  string
		failure string
	}{
		{"kmp objects", []any{kmp("inline", "other", "", true, other), kmp("akv", "release", "v2", true, key)}, "akv/release@v2", ""},
		{"kmp name only", []any{kmp("", "release", "", nil, key)}, "release", ""},
		{"kmp provider only", []any{kmp("inline", "", "", true, key)}, "inline", ""},
		{"kmp disabled skipped", []any{kmp("inline", "good", "1", false, key), kmp("inline", "other", "", true, other)}, "", "no key verifies the signature"},
		{"all disabled", []any{kmp("inline", "good", "1", false, key)}, "", "no keys to verify with (1 given, all disabled)"},
		{"pem strings", []any{other.pem, key.pem}, "key[1]", ""},
		{"mixed forms", []any{kmp("inline", "a", "", true, other), key.pem}, "key[1]", ""},
		{"no keys", []any{}, "", "no keys to verify with"},
		{"keys absent", nil, "", "no keys to verify with"},
		{"bad pem", []any{key.pem, "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n"}, "", "invalid cosign.verify options: keys[1]: malformed PEM"},
		{"garbage", []any{"hello"}, "", `keys[0]: not a PEM public key: no "-----BEGIN PUBLIC KEY-----" block found`},
		{"certificate", []any{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "", "keys[0]: is a certificate"},
		{"kmp without pem", []any{map[string]any{"provider": "p", "name": "n"}}, "", "keys[0] (p/n): no pem field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := map[string]any{"warnings": []any{"kmp p is deprecated"}}
			if c.keys != nil {
				opts["keys"] = c.keys
			}
			r := verify(t, img.ref, opts)
			if c.failure != "" {
				wantFailure(t, r, c.failure)
				return
			}
			wantSuccess(t, r, 1)
			if r.Signatures[0].Signer != c.signer {
				t.Errorf("signer = %q, want %q", r.Signatures[0].Signer, c.signer)
			}
			if len(r.Warnings) != 1 || r.Warnings[0] != "kmp p is deprecated" {
				t.Errorf("warnings = %q", r.Warnings)
			}
		})
	}
}

func TestVerifyRegistryUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there now
	ref, err := oras.ParseReference(host + "/gone@sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := verify(t, ref, map[string]any{"keys": keysOpt(newKey(t, "ECDSA-P256", 0))})
	wantFailure(t, r, "listing the cosign signatures of")
	if !r.Transient {
		t.Errorf("an unreachable registry must be transient: %+v", r)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

// A registry failing while a signature manifest is fetched fails that
// signature and marks the report transient.
func TestVerifyFetchOutage(t *testing.T) {
	t.Parallel()
	reg := regtest.StartOCI11(t, 0)
	key := newKey(t, "ECDSA-P256", 0)
	img := pushImage(t, reg, "outage/img")
	attachTag(t, img, sign(t, key.signer, img))
	proxy := regtest.StartProxy(t, reg.Host)
	proxy.Add(regtest.Fault{Status: 503, Match: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/") }})
	ref := img.ref
	ref.Registry = proxy.Host
	r := verify(t, ref, map[string]any{"keys": keysOpt(key)})
	wantFailure(t, r, "cannot fetch the signed payload")
	if !r.Transient {
		t.Errorf("want transient: %+v", r)
	}
}

func TestVerifyStoreWithoutCosign(t *testing.T) {
	t.Parallel()
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	key := newKey(t, "ECDSA-P256", 0)
	img := pushImage(t, reg, "nocosign/img")
	attachTag(t, img, sign(t, key.signer, img))
	s, err := oras.New(context.Background(), []oras.Config{{Type: oras.TypeRemote, PlainHTTP: true}}, oras.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(context.Background(), s, img.ref, map[string]any{"keys": keysOpt(key)})
	wantFailure(t, r, "the Store needs cosignEnabled: true")
}

func TestVerifyBadInputs(t *testing.T) {
	t.Parallel()
	key := newKey(t, "ECDSA-P256", 0)
	opts := map[string]any{"keys": keysOpt(key)}
	tagged, _ := oras.ParseReference("127.0.0.1:1/repo:v1")
	pinned, _ := oras.ParseReference("127.0.0.1:1/repo@sha256:" + strings.Repeat("b", 64))

	wantFailure(t, Verify(context.Background(), nil, pinned, opts), "no store")
	wantFailure(t, Verify(context.Background(), newStore(t), tagged, opts), "not pinned to a digest")
	wantFailure(t, Verify(context.Background(), newStore(t), pinned, map[string]any{"tlog": "yes"}), "tlog: want true or false, got a string")
	wantFailure(t, Verify(context.Background(), newStore(t), pinned, map[string]any{"keys": keysOpt(key), "tLog": true}), `unknown option "tLog"`)
}
