package sample

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"
)

// PolicyIdentity is the common name of the leaf certificate the shipped
// policies trust.
const PolicyIdentity = "ratify-policies"

// PolicyFixture is one image the shipped policies' tests decide on.
type PolicyFixture struct {
	// Name is the reference the image has in the layout, host/repo:tag.
	Name string
	// SignedWith says, for people, what signed it.
	SignedWith string
}

// PolicyFixtures are the images, keys and resources of the shipped
// policies' tests (policies/README.md lists them).
type PolicyFixtures struct {
	Images []PolicyFixture
	// Trusted is the CA the notation-certs provider holds and its leaf,
	// CN=ratify-policies; Untrusted another CA with a leaf of that subject.
	Trusted, Untrusted *PKI
	// Key1 and Key2 are the keys of cosign-key-1 and cosign-key-2; Rotating
	// versions 0, 1 and 2 of cosign-rotating.
	Key1, Key2 *CosignKey
	Rotating   []*CosignKey
}

// The repositories of the fixtures, as the policies' settings name them.
var policyScopes = []string{"localhost:5001/*", "localhost:5002/*", "localhost:5003/*"}

// WritePolicyFixtures signs, with fresh keys and certificates, the images
// the shipped policies' tests expect, into the OCI layout at layout
// (created if missing): Notary Project signatures with notation-go, cosign
// signatures in cosign's format at its signature tag.
func WritePolicyFixtures(ctx context.Context, layout string) (*PolicyFixtures, error) {
	f := &PolicyFixtures{}
	var err error
	if f.Trusted, err = NewPKI(Options{CommonName: PolicyIdentity}); err != nil {
		return nil, err
	}
	if f.Untrusted, err = NewPKI(Options{CommonName: PolicyIdentity}); err != nil {
		return nil, err
	}
	impostor, err := f.Trusted.Issue(Options{CommonName: "impostor"})
	if err != nil {
		return nil, err
	}
	keys := make([]*CosignKey, 5)
	for i := range keys {
		if keys[i], err = NewCosignKey(); err != nil {
			return nil, err
		}
	}
	f.Key1, f.Key2, f.Rotating = keys[0], keys[1], keys[2:]

	type signer func(ctx context.Context, repo LayoutRepository, d ocispec.Descriptor) error
	notationBy := func(ps ...*PKI) signer {
		return func(ctx context.Context, repo LayoutRepository, d ocispec.Descriptor) error {
			for _, p := range ps {
				if err := Notation(ctx, p, repo, d, JWS); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cosignBy := func(k *CosignKey) signer {
		return func(ctx context.Context, repo LayoutRepository, d ocispec.Descriptor) error {
			_, err := Cosign(ctx, k, repo, repo.Name, d, "")
			return err
		}
	}
	both := func(ctx context.Context, repo LayoutRepository, d ocispec.Descriptor) error {
		if err := notationBy(f.Trusted)(ctx, repo, d); err != nil {
			return err
		}
		return cosignBy(f.Key1)(ctx, repo, d)
	}
	const (
		trusted   = "Notary Project, the trusted CA's leaf CN=" + PolicyIdentity
		untrusted = "Notary Project, another CA's leaf with the same subject"
	)
	images := []struct {
		name, signedWith string
		sign             signer
	}{
		{"localhost:5001/app:notation", trusted, notationBy(f.Trusted)},
		{"localhost:5001/app:cosign", "cosign, cosign-key-1", cosignBy(f.Key1)},
		{"localhost:5001/app:both", trusted + " and cosign, cosign-key-1", both},
		{"localhost:5001/app:unsigned", "nothing", nil},
		{"localhost:5001/app:notation-untrusted", untrusted, notationBy(f.Untrusted)},
		{"localhost:5001/app:notation-impostor", "Notary Project, the trusted CA's leaf CN=impostor", notationBy(impostor)},
		{"localhost:5001/app:two-notation", "Notary Project, the trusted leaf and the untrusted one", notationBy(f.Trusted, f.Untrusted)},
		{"localhost:5001/app:cosign-key-2", "cosign, cosign-key-2", cosignBy(f.Key2)},
		{"localhost:5001/app:rotation-v0", "cosign, version 0 of cosign-rotating", cosignBy(f.Rotating[0])},
		{"localhost:5001/app:rotation-v1", "cosign, version 1 of cosign-rotating", cosignBy(f.Rotating[1])},
		{"localhost:5001/app:rotation-v2", "cosign, version 2 of cosign-rotating", cosignBy(f.Rotating[2])},
		{"localhost:5002/app:cosign", "cosign, cosign-key-1", cosignBy(f.Key1)},
		{"localhost:5002/app:cosign-key-2", "cosign, cosign-key-2", cosignBy(f.Key2)},
		{"localhost:5003/app:cosign", "cosign, cosign-key-1", cosignBy(f.Key1)},
	}

	store, err := oci.New(layout)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", layout, err)
	}
	for _, img := range images {
		i := strings.LastIndex(img.name, ":") // before the tag: host:port/repo:tag
		repo := LayoutRepository{Store: store, Name: img.name[:i]}
		d, err := PushImage(ctx, repo, img.name[i+1:])
		if err == nil && img.sign != nil {
			err = img.sign(ctx, repo, d)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.name, err)
		}
		f.Images = append(f.Images, PolicyFixture{Name: img.name, SignedWith: img.signedWith})
	}
	return f, nil
}

// Resources is a resources YAML for the fixtures in the OCI layout at
// layout (a path as ratify, where it runs, is to find it): the layout as
// the fixtures' registries, the key management providers the shipped
// policies name (notation-certs, cosign-key-1, cosign-key-2,
// cosign-rotating), and a notation and a cosign Verifier of the shape of
// policies/notation-or-cosign, so the compiled default decides on the
// fixtures as that policy does.
func (f *PolicyFixtures) Resources(layout string) string {
	scopes, _ := json.Marshal(policyScopes)
	rotating := ""
	for _, k := range f.Rotating {
		rotating += k.PublicPEM()
	}
	docs := []string{
		fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: fixtures}
spec:
  name: oci-layout
  parameters:
    path: %s
    scopes: %s
    cosignEnabled: true`, quoteYAML(layout), scopes),
		InlineKMPDoc("notation-certs", "certificate", f.Trusted.CAPEM()),
		InlineKMPDoc("cosign-key-1", "key", f.Key1.PublicPEM()),
		InlineKMPDoc("cosign-key-2", "key", f.Key2.PublicPEM()),
		InlineKMPDoc("cosign-rotating", "key", rotating),
		NotationVerifierDoc("notation-certs", f.Trusted.Subject()),
		CosignVerifierDoc("cosign-key-1"),
	}
	return strings.Join(docs, "\n---\n") + "\n"
}
