package cosign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	orasgo "oras.land/oras-go/v2"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// testKey is a key pair of internal/sample and the signer `cosign sign
// --key` would use with it.
type testKey struct {
	alg    string
	priv   crypto.Signer
	pem    string // public key
	signer signature.Signer
}

// algorithms are the key types cosign.verify supports.
var algorithms = []string{"ECDSA-P256", "ECDSA-P384", "ECDSA-P521", "RSA-2048", "RSA-4096", "Ed25519"}

// testKeys is the package's cache of test keys, shared read-only by parallel
// tests: RSA-4096 generation is slow. Each entry is made once.
var testKeys sync.Map // "alg#slot" -> *cachedKey

type cachedKey struct {
	once sync.Once
	key  *testKey
	err  error
}

// newKey returns the key of alg; slot lets a test ask for a second,
// distinct key of the same algorithm.
func newKey(t testing.TB, alg string, slot int) *testKey {
	t.Helper()
	e, _ := testKeys.LoadOrStore(alg+"#"+strconv.Itoa(slot), &cachedKey{})
	c := e.(*cachedKey)
	c.once.Do(func() { c.key, c.err = makeKey(alg) })
	if c.err != nil {
		t.Fatalf("%s key: %v", alg, c.err)
	}
	return c.key
}

func makeKey(alg string) (*testKey, error) {
	priv, err := sample.NewKey(sample.KeyAlgorithm(alg))
	if err != nil {
		return nil, err
	}
	pub, err := sample.PublicKeyPEM(priv.Public())
	if err != nil {
		return nil, err
	}
	// What cosign.LoadPrivateKey does for `cosign sign --key`.
	signer, err := signature.LoadDefaultSignerVerifier(priv, sigopts.WithED25519ph())
	if err != nil {
		return nil, err
	}
	return &testKey{alg: alg, priv: priv, pem: pub, signer: signer}, nil
}

// freshKey is a new key of alg, for a test that must not share it.
func freshKey(t testing.TB, alg sample.KeyAlgorithm) crypto.Signer {
	t.Helper()
	k, err := sample.NewKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	s, err := sample.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// image is a pushed test image.
type image struct {
	host, repo string
	desc       ocispec.Descriptor
	ref        oras.Reference // pinned to the digest
	digestRef  name.Digest
}

func pushImage(t testing.TB, reg *regtest.Registry, repo string) image {
	t.Helper()
	desc := regtest.PushImage(t, regtest.Repo(t, reg.Host, repo, "", ""), "")
	d, err := name.NewDigest(reg.Host+"/"+repo+"@"+desc.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oras.ParseReference(reg.Host + "/" + repo + "@" + desc.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	return image{host: reg.Host, repo: repo, desc: desc, ref: ref, digestRef: d}
}

// simpleSigning is the payload `cosign sign` signs for img.
func simpleSigning(t testing.TB, img image) []byte {
	t.Helper()
	b, err := json.Marshal(payload.Cosign{Image: img.digestRef})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign signs the simple-signing payload of img with signer and returns it as
// cosign's oci.Signature.
func sign(t testing.TB, signer signature.Signer, img image, opts ...static.Option) oci.Signature {
	t.Helper()
	p := simpleSigning(t, img)
	raw, err := signer.SignMessage(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(raw), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// attachTag appends sigs to the `sha256-<hex>.sig` tag of img with cosign's
// own writer, as `cosign sign` does.
func attachTag(t testing.TB, img image, sigs ...oci.Signature) {
	t.Helper()
	se, err := ociremote.SignedEntity(img.digestRef)
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range sigs {
		if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
			t.Fatal(err)
		}
	}
	if err := ociremote.WriteSignatures(img.digestRef.Repository, se); err != nil {
		t.Fatal(err)
	}
}

// attachReferrer pushes sig as an OCI 1.1 referrer of img: a manifest with
// cosign's signature artifactType and a subject, written with oras-go.
func attachReferrer(t testing.TB, img image, sig oci.Signature) digest.Digest {
	t.Helper()
	ctx := context.Background()
	repo := regtest.Repo(t, img.host, img.repo, "", "")
	p, _ := sig.Payload()
	ann, _ := sig.Annotations()
	layer := ocispec.Descriptor{MediaType: SimpleSigningMediaType, Digest: digest.FromBytes(p), Size: int64(len(p)), Annotations: ann}
	if err := repo.Push(ctx, layer, bytes.NewReader(p)); err != nil {
		t.Fatal(err)
	}
	desc, err := orasgo.PackManifest(ctx, repo, orasgo.PackManifestVersion1_1, oras.CosignSignatureArtifactType, orasgo.PackManifestOptions{
		Subject: &img.desc,
		Layers:  []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest
}

// newStore is the store the engine builds for a Store resource with
// cosignEnabled: true.
func newStore(t testing.TB) *oras.Store {
	t.Helper()
	s, err := oras.New(context.Background(), []oras.Config{{Type: oras.TypeRemote, PlainHTTP: true, CosignEnabled: true, Auth: oras.Anonymous}}, oras.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify runs Verify with a fresh store (so referrer lists are not cached
// between pushes) and checks the invariants every report must hold.
func verify(t testing.TB, ref oras.Reference, opts map[string]any) report.Report {
	t.Helper()
	return verifyWith(t, nil, ref, opts)
}

// verifyWith is verify with the test's own Rekor key source (nil: the
// default).
func verifyWith(t testing.TB, rekor *RekorKeys, ref oras.Reference, opts map[string]any) report.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := Verifier{Rekor: rekor}.Verify(ctx, newStore(t), ref, opts)
	checkInvariants(t, r)
	return r
}

func checkInvariants(t testing.TB, r report.Report) {
	t.Helper()
	if r.Verifier != "cosign" {
		t.Errorf("verifier = %q", r.Verifier)
	}
	if r.Message == "" || strings.Contains(r.Message, "\n") {
		t.Errorf("message must be one non-empty line: %q", r.Message)
	}
	ok := 0
	for _, s := range r.Signatures {
		if s.IsSuccess {
			ok++
			if s.Error != "" || s.Signer == "" {
				t.Errorf("verified signature with error %q / signer %q", s.Error, s.Signer)
			}
		} else if s.Error == "" {
			t.Errorf("failed signature %s without an error", s.Digest)
		}
	}
	if want := len(r.Signatures) > 0 && ok == len(r.Signatures); r.IsSuccess != want {
		t.Errorf("isSuccess = %v with %d of %d signatures verified", r.IsSuccess, ok, len(r.Signatures))
	}
	// The engine hands reports to policies as JSON-like values.
	if v := r.Value(); v["verifier"] != "cosign" {
		t.Errorf("Value() = %v", v)
	}
}

// keysOpt is `keys` as PEM strings.
func keysOpt(keys ...*testKey) []any {
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k.pem
	}
	return out
}

func wantSuccess(t testing.TB, r report.Report, n int) {
	t.Helper()
	if !r.IsSuccess || len(r.Signatures) != n {
		t.Fatalf("want %d verified signatures, got isSuccess=%v message=%q signatures=%+v", n, r.IsSuccess, r.Message, r.Signatures)
	}
}

func wantFailure(t testing.TB, r report.Report, substr string) {
	t.Helper()
	t.Logf("message: %s", r.Message)
	if r.IsSuccess {
		t.Fatalf("want failure, got success: %+v", r)
	}
	if !strings.Contains(r.Message, substr) {
		t.Fatalf("message %q does not contain %q", r.Message, substr)
	}
}
