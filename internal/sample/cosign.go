package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

// CosignKey is an ECDSA P-256 key pair, cosign's default.
type CosignKey struct {
	Key *ecdsa.PrivateKey
}

// NewCosignKey makes a fresh key.
func NewCosignKey(t testing.TB) *CosignKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &CosignKey{Key: k}
}

// PublicPEM is the public key in PEM, as a KMP holds it.
func (k *CosignKey) PublicPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(k.Key.Public())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Cosign media types and annotation.
const (
	simpleSigningType   = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation = "dev.cosignproject.cosign/signature"
)

// Cosign signs the image d of repo (named name, `host/repo`) the way
// `cosign sign --key` does: a simple-signing payload naming the digest,
// signed with SHA-256, stored as a layer of a manifest at the
// `sha256-<hex>.sig` tag. forDigest, when set, is the digest the payload
// claims instead of d's: a signature copied from another image.
func Cosign(t testing.TB, k *CosignKey, repo *remote.Repository, name string, d ocispec.Descriptor, forDigest digest.Digest) ocispec.Descriptor {
	t.Helper()
	if forDigest == "" {
		forDigest = d.Digest
	}
	payload, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]any{"docker-reference": name},
			"image":    map[string]any{"docker-manifest-digest": forDigest.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, k.Key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	layer := push(t, repo, simpleSigningType, payload)
	layer.Annotations = map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	cfg := push(t, repo, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}`))
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, desc, d.Digest.Algorithm().String()+"-"+d.Digest.Encoded()+".sig"); err != nil {
		t.Fatal(err)
	}
	return desc
}

func push(t testing.TB, repo *remote.Repository, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := repo.Push(context.Background(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return desc
}
