// Package sign makes signing fixtures at test time (fresh CAs and
// code-signing certificates, cosign keys, Notary Project and cosign
// signatures): internal/sample's functions, ending the test on error.
package sign

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Types and constants of internal/sample.
type (
	PKI       = sample.PKI
	Options   = sample.Options
	CosignKey = sample.CosignKey
)

// Envelope media types.
const (
	JWS  = sample.JWS
	COSE = sample.COSE
)

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// NewPKI makes a CA and a code-signing leaf.
func NewPKI(t testing.TB, o Options) *PKI {
	t.Helper()
	p, err := sample.NewPKI(o)
	check(t, err)
	return p
}

// Issue makes another leaf of p's CA.
func Issue(t testing.TB, p *PKI, o Options) *PKI {
	t.Helper()
	leaf, err := p.Issue(o)
	check(t, err)
	return leaf
}

// Notation signs d with notation-go and pushes the signature to repo, a
// registry's repository or an OCI layout.
func Notation(t testing.TB, p *PKI, repo oras.GraphTarget, d ocispec.Descriptor, envelope string) {
	t.Helper()
	check(t, sample.Notation(context.Background(), p, repo, d, envelope))
}

// NotationAt signs as of at (an expired certificate can sign in the past).
func NotationAt(t testing.TB, p *PKI, repo oras.GraphTarget, d ocispec.Descriptor, at time.Time) {
	t.Helper()
	check(t, sample.NotationAt(context.Background(), p, repo, d, at))
}

// NewCosignKey makes an ECDSA P-256 key.
func NewCosignKey(t testing.TB) *CosignKey {
	t.Helper()
	k, err := sample.NewCosignKey()
	check(t, err)
	return k
}

// Cosign signs d as `cosign sign --key` does; forDigest, when set, is the
// digest the payload claims instead.
func Cosign(t testing.TB, k *CosignKey, repo oras.Target, name string, d ocispec.Descriptor, forDigest digest.Digest) ocispec.Descriptor {
	t.Helper()
	desc, err := sample.Cosign(context.Background(), k, repo, name, d, forDigest)
	check(t, err)
	return desc
}
