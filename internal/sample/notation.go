package sample

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"time"

	"github.com/notaryproject/notation-core-go/signature"

	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	notationgo "github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// Envelope media types.
const (
	JWS  = "application/jose+json"
	COSE = "application/cose"
)

// NotationAt signs like Notation with the signing time at, so that a
// certificate valid then but expired now can sign (notation-go's signer
// always signs now and refuses an expired certificate).
func NotationAt(ctx context.Context, p *PKI, repo oras.GraphTarget, d ocispec.Descriptor, at time.Time) error {
	return sign(ctx, backdated{p: p, at: at}, repo, d, JWS)
}

type backdated struct {
	p  *PKI
	at time.Time
}

func (b backdated) Sign(_ context.Context, desc ocispec.Descriptor, opts notationgo.SignerSignOptions) ([]byte, *signature.SignerInfo, error) {
	target := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	payload, err := json.Marshal(map[string]any{"targetArtifact": target})
	if err != nil {
		return nil, nil, err
	}
	local, err := signature.NewLocalSigner([]*x509.Certificate{b.p.Leaf, b.p.CA}, b.p.LeafKey)
	if err != nil {
		return nil, nil, err
	}
	env, err := signature.NewEnvelope(opts.SignatureMediaType)
	if err != nil {
		return nil, nil, err
	}
	sig, err := env.Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        local,
		SigningTime:   b.at,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "ratify-test",
	})
	if err != nil {
		return nil, nil, err
	}
	content, err := env.Verify()
	if err != nil {
		return nil, nil, err
	}
	return sig, &content.SignerInfo, nil
}

// Notation signs the image d of repo with p's leaf, with notation-go, and
// pushes the signature as a referrer (or by the tag schema when the
// registry has no referrers API). repo is a registry's repository
// (*remote.Repository) or an OCI layout (*oci.Store, LayoutRepository).
func Notation(ctx context.Context, p *PKI, repo oras.GraphTarget, d ocispec.Descriptor, envelope string) error {
	s, err := signer.NewGenericSigner(p.LeafKey, []*x509.Certificate{p.Leaf, p.CA})
	if err != nil {
		return err
	}
	if envelope == "" {
		envelope = JWS
	}
	return sign(ctx, s, repo, d, envelope)
}

func sign(ctx context.Context, s notationgo.Signer, repo oras.GraphTarget, d ocispec.Descriptor, envelope string) error {
	_, err := notationgo.Sign(ctx, s, notationreg.NewRepository(repo), notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: envelope},
		ArtifactReference: d.Digest.String(),
	})
	return err
}
