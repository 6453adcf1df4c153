package sample

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

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// CosignKey is an ECDSA P-256 key pair, cosign's default.
type CosignKey struct {
	Key *ecdsa.PrivateKey
}

// NewCosignKey makes a fresh key.
func NewCosignKey() (*CosignKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &CosignKey{Key: k}, nil
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
func Cosign(ctx context.Context, k *CosignKey, repo oras.Target, name string, d ocispec.Descriptor, forDigest digest.Digest) (ocispec.Descriptor, error) {
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
		return ocispec.Descriptor{}, err
	}
	layer, err := PushBlob(ctx, repo, simpleSigningType, payload)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer.Annotations = map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	cfg, err := PushBlob(ctx, repo, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, repo.Tag(ctx, desc, d.Digest.Algorithm().String()+"-"+d.Digest.Encoded()+".sig")
}

// PushBlob pushes b as a blob of mediaType.
func PushBlob(ctx context.Context, repo content.Pusher, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return desc, repo.Push(ctx, desc, bytes.NewReader(b))
}
