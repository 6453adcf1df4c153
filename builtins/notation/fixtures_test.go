package notation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	notationgo "github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

// pki is a CA and a code-signing leaf of internal/sample.
type pki struct{ *sample.PKI }

// newPKI makes a fresh CA and leaf.
func newPKI(t testing.TB, o sample.Options) *pki {
	t.Helper()
	p, err := sample.NewPKI(o)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{p}
}

func pemOf(c *x509.Certificate) string { return sample.CertPEM(c) }

// kmpCert is c as kmp.certificates returns it.
func kmpCert(c *x509.Certificate, enabled bool) map[string]any {
	return map[string]any{"provider": "inline-certs", "name": "ca", "version": "1", "enabled": enabled,
		"subject": c.Subject.String(), "issuer": c.Issuer.String(),
		"notAfter": c.NotAfter.UTC().Format(time.RFC3339), "pem": pemOf(c)}
}

func (p *pki) chain() []*x509.Certificate { return []*x509.Certificate{p.Leaf, p.CA} }

func (p *pki) identity() string { return "x509.subject: " + p.Subject() }

// sign signs the image at digest d of repo with notation-go and pushes the
// signature as its referrer.
func (p *pki) sign(t *testing.T, repo *remote.Repository, d ocispec.Descriptor, mediaType string) {
	t.Helper()
	if err := sample.Notation(context.Background(), p.PKI, repo, d, mediaType); err != nil {
		t.Fatal(err)
	}
}

func signWith(t *testing.T, s notationgo.Signer, repo *remote.Repository, d ocispec.Descriptor, mediaType string) {
	t.Helper()
	_, err := notationgo.Sign(context.Background(), s, notationreg.NewRepository(repo), notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: mediaType},
		ArtifactReference: d.Digest.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// backdatedSigner is a notation.Signer (notation-core-go envelopes) whose
// signing time is chosen, so a certificate valid then but expired now can
// sign: notation-go's GenericSigner always signs at time.Now() and rejects
// an expired certificate.
type backdatedSigner struct {
	p      *pki
	at     time.Time
	target *ocispec.Descriptor // sign this descriptor instead of the one asked
	plugin string              // require this verification plugin
}

func (b backdatedSigner) Sign(_ context.Context, desc ocispec.Descriptor, opts notationgo.SignerSignOptions) ([]byte, *signature.SignerInfo, error) {
	if b.target != nil {
		desc = *b.target
	}
	target := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	payload, err := json.Marshal(map[string]any{"targetArtifact": target})
	if err != nil {
		return nil, nil, err
	}
	local, err := signature.NewLocalSigner(b.p.chain(), b.p.LeafKey)
	if err != nil {
		return nil, nil, err
	}
	env, err := signature.NewEnvelope(opts.SignatureMediaType)
	if err != nil {
		return nil, nil, err
	}
	var attrs []signature.Attribute
	if b.plugin != "" {
		attrs = append(attrs, signature.Attribute{Key: "io.cncf.notary.verificationPlugin", Value: b.plugin, Critical: true})
	}
	sig, err := env.Sign(&signature.SignRequest{
		ExtendedSignedAttributes: attrs,
		Payload:                  signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:                   local,
		SigningTime:              b.at,
		SigningScheme:            signature.SigningSchemeX509,
		SigningAgent:             "ratify-test",
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

// policy is a trust-policy document with one policy, as JSON-like values.
func policy(name string, scopes []string, level string, stores, identities []string) map[string]any {
	return map[string]any{"version": "1.0", "trustPolicies": []any{policyStatement(name, scopes, level, stores, identities)}}
}

func policyStatement(name string, scopes []string, level string, stores, identities []string) map[string]any {
	return map[string]any{
		"name":                  name,
		"registryScopes":        toAny(scopes),
		"signatureVerification": map[string]any{"level": level},
		"trustStores":           toAny(stores),
		"trustedIdentities":     toAny(identities),
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func newStore(t *testing.T) *oras.Store {
	t.Helper()
	s, err := oras.New(context.Background(), []oras.Config{{Type: oras.TypeRemote, PlainHTTP: true, Auth: oras.Anonymous,
		Retry: oras.RetryPolicy{Backoff: 10 * time.Millisecond}}}, oras.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRef(t *testing.T, s string) oras.Reference {
	t.Helper()
	r, err := oras.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
