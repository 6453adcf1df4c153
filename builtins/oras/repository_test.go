package oras_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasgo "oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

var _ orasgo.ReadOnlyGraphTarget = (*oras.Repository)(nil)

// signedLayout is an OCI layout holding an image tagged
// myregistry.io/app:v1, a notation signature attached to it, an SBOM with
// its own signature, and a cosign signature at the image's `.sig` tag.
type signedLayout struct {
	dir                            string
	image, sig, sbom, sbomSig, cos ocispec.Descriptor
}

func newSignedLayout(t *testing.T) signedLayout {
	t.Helper()
	ctx := context.Background()
	l := signedLayout{dir: t.TempDir()}
	store, err := oci.New(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	l.image = regtest.PushImage(t, store, "myregistry.io/app:v1")
	l.sig = regtest.PushArtifact(t, store, l.image, notationType, []byte("sig"), nil)
	l.sbom = regtest.PushArtifact(t, store, l.image, sbomType, []byte(`{"spdxVersion":"SPDX-2.3"}`), nil)
	l.sbomSig = regtest.PushArtifact(t, store, l.sbom, notationType, []byte("sbom sig"), nil)
	l.cos = regtest.PushImage(t, store, "")
	if err := store.Tag(ctx, l.cos, "myregistry.io/app:"+oras.CosignSignatureTag(l.image.Digest)); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l signedLayout) repository(t *testing.T, cfg oras.Config) *oras.Repository {
	t.Helper()
	cfg.Name, cfg.Type, cfg.Path, cfg.CosignEnabled = "fixtures", oras.TypeLayout, l.dir, true
	repo, err := newStore(t, cfg).Repository(mustRef(t, "myregistry.io/app"))
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func digests(ds []ocispec.Descriptor) map[digest.Digest]string {
	m := map[digest.Digest]string{}
	for _, d := range ds {
		m[d.Digest] = d.ArtifactType
	}
	return m
}

// The view resolves tags, digests and full references of its repository,
// and its predecessors are the store's referrers with cosign's tag.
func TestRepositoryResolveAndPredecessors(t *testing.T) {
	l := newSignedLayout(t)
	repo := l.repository(t, oras.Config{})
	ctx := context.Background()
	if repo.Name() != "myregistry.io/app" {
		t.Fatalf("name %q", repo.Name())
	}
	for _, in := range []string{"v1", l.image.Digest.String(), "myregistry.io/app:v1", "MyRegistry.io:443/app:v1"} {
		if d, err := repo.Resolve(ctx, in); err != nil || d.Digest != l.image.Digest {
			t.Errorf("Resolve(%q) = %v, %v; want %s", in, d.Digest, err, l.image.Digest)
		}
	}
	for in, want := range map[string]error{"v2": errdef.ErrNotFound, "other.io/app:v1": errdef.ErrInvalidReference, "v1 ": errdef.ErrInvalidReference} {
		if _, err := repo.Resolve(ctx, in); !errors.Is(err, want) {
			t.Errorf("Resolve(%q): %v, want %v", in, err, want)
		}
	}

	got, err := repo.Predecessors(ctx, l.image)
	if err != nil {
		t.Fatal(err)
	}
	want := map[digest.Digest]string{l.sig.Digest: notationType, l.sbom.Digest: sbomType, l.cos.Digest: oras.CosignSignatureArtifactType}
	if d := digests(got); len(d) != len(want) || d[l.sig.Digest] != notationType || d[l.sbom.Digest] != sbomType || d[l.cos.Digest] != oras.CosignSignatureArtifactType {
		t.Fatalf("predecessors %v, want %v", d, want)
	}
	// The caller owns the slice: changing it does not change the store's.
	got[0].ArtifactType = "changed"
	if again, _ := repo.Predecessors(ctx, l.image); digests(again)[got[0].Digest] == "changed" {
		t.Fatal("Predecessors returned the store's cached list")
	}
	if sub, err := repo.Predecessors(ctx, l.sbom); err != nil || len(sub) != 1 || sub[0].Digest != l.sbomSig.Digest {
		t.Fatalf("predecessors of the SBOM: %v, %v", sub, err)
	}
	if _, err := repo.Predecessors(ctx, ocispec.Descriptor{Digest: "sha256:nope"}); !errors.Is(err, oras.ErrInvalidReference) {
		t.Fatalf("a bad digest: %v", err)
	}
}

// Fetch is the store's: verified, bounded by its limits, errors that are
// oras-go's as well as the store's; Exists answers without an error for
// content that is not there.
func TestRepositoryFetchAndExists(t *testing.T) {
	l := newSignedLayout(t)
	ctx := context.Background()
	repo := l.repository(t, oras.Config{})

	b, err := content.FetchAll(ctx, repo, l.sig)
	if err != nil || !strings.Contains(string(b), l.image.Digest.String()) {
		t.Fatalf("signature manifest: %s, %v", b, err)
	}
	absent := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("absent"), Size: 6}
	for _, c := range []struct {
		desc ocispec.Descriptor
		want bool
	}{{l.image, true}, {l.sig, true}, {absent, false}} {
		if ok, err := repo.Exists(ctx, c.desc); err != nil || ok != c.want {
			t.Errorf("Exists(%s) = %v, %v; want %v", c.desc.Digest, ok, err, c.want)
		}
	}

	if _, err := repo.Fetch(ctx, absent); !errors.Is(err, errdef.ErrNotFound) || !errors.Is(err, oras.ErrNotFound) {
		t.Errorf("missing content: %v, want errdef.ErrNotFound", err)
	}
	lie := l.sig
	lie.Size--
	for name, r := range map[string]*oras.Repository{"cached": repo, "read": l.repository(t, oras.Config{})} {
		if _, err := r.Fetch(ctx, lie); !errors.Is(err, oras.ErrDigestMismatch) {
			t.Errorf("%s: a descriptor with the wrong size: %v, want ErrDigestMismatch", name, err)
		}
	}
	small := l.repository(t, oras.Config{MaxManifestBytes: 16})
	if _, err := small.Fetch(ctx, l.sig); !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errors.Is(err, oras.ErrTooLarge) {
		t.Errorf("over the manifest limit: %v, want errdef.ErrSizeExceedsLimit", err)
	}
	if _, err := newStore(t, oras.Config{Type: oras.TypeLayout, Path: l.dir, Scopes: []string{"myregistry.io/*"}}).Repository(mustRef(t, "other.io/app")); !errors.Is(err, oras.ErrNoStore) {
		t.Errorf("a repository no store serves: %v", err)
	}
}

// oras-go's ExtendedCopyGraph reads the view as any graph target: the
// image's referrers, theirs, and the cosign signature (a root: nothing
// refers to it) arrive in memory, with the image their subjects lead to.
func TestRepositoryExtendedCopyGraph(t *testing.T) {
	l := newSignedLayout(t)
	ctx := context.Background()
	repo := l.repository(t, oras.Config{})
	dst := memory.New()
	if err := orasgo.ExtendedCopyGraph(ctx, repo, dst, l.image, orasgo.ExtendedCopyGraphOptions{Depth: oras.MaxDiscoverDepth}); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]ocispec.Descriptor{"image": l.image, "signature": l.sig, "sbom": l.sbom, "sbom signature": l.sbomSig, "cosign signature": l.cos} {
		if ok, err := dst.Exists(ctx, d); err != nil || !ok {
			t.Errorf("%s not copied: %v", name, err)
		}
	}
	// In memory the subject edges are the graph: the tree has the
	// referrers (cosign's tag, which names no subject, stays behind).
	tree, err := oras.DiscoverGraph(ctx, dst, l.image)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, n := range tree.Referrers {
		types[n.ArtifactType]++
		if n.Digest == l.sbom.Digest && (len(n.Referrers) != 1 || n.Referrers[0].Digest != l.sbomSig.Digest) {
			t.Errorf("the SBOM's referrers: %+v", n.Referrers)
		}
	}
	if len(tree.Referrers) != 2 || types[notationType] != 1 || types[sbomType] != 1 {
		t.Fatalf("referrers in memory: %v", types)
	}
}

// Discover is the walk over the view's predecessors, bounded in depth.
func TestDiscoverWalksPredecessors(t *testing.T) {
	l := newSignedLayout(t)
	ctx := context.Background()
	s := newStore(t, oras.Config{Type: oras.TypeLayout, Path: l.dir, CosignEnabled: true})
	tree, err := s.Discover(ctx, mustRef(t, "myregistry.io/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if tree.Reference != "myregistry.io/app@"+l.image.Digest.String() || tree.Digest != l.image.Digest || len(tree.Referrers) != 3 {
		t.Fatalf("tree %+v", tree)
	}

	// A chain longer than MaxDiscoverDepth stops there.
	mem := memory.New()
	chain := []ocispec.Descriptor{regtest.PushImage(t, mem, "")}
	for i := 0; i < oras.MaxDiscoverDepth+2; i++ {
		chain = append(chain, regtest.PushArtifact(t, mem, chain[i], notationType, []byte{byte(i)}, nil))
	}
	n, err := oras.DiscoverGraph(ctx, mem, chain[0])
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for ; len(n.Referrers) == 1; depth++ {
		n = n.Referrers[0]
	}
	if depth != oras.MaxDiscoverDepth {
		t.Fatalf("walked %d levels, want %d", depth, oras.MaxDiscoverDepth)
	}
}

// The store's sentinels are oras-go's where oras-go has one.
func TestErrorsAreErrdef(t *testing.T) {
	for _, c := range []struct{ ours, theirs error }{
		{oras.ErrNotFound, errdef.ErrNotFound},
		{oras.ErrInvalidReference, errdef.ErrInvalidReference},
		{oras.ErrTooLarge, errdef.ErrSizeExceedsLimit},
	} {
		if !errors.Is(c.ours, c.theirs) || !errors.Is(c.theirs, c.ours) {
			t.Errorf("%v and %v are not the same sentinel", c.ours, c.theirs)
		}
	}
	if _, err := oras.ParseReference("Not A Reference"); !errors.Is(err, errdef.ErrInvalidReference) || !strings.Contains(err.Error(), "invalid reference") {
		t.Errorf("ParseReference: %v", err)
	}
	l := newSignedLayout(t)
	s := newStore(t, oras.Config{Type: oras.TypeLayout, Path: l.dir})
	if _, err := s.Resolve(context.Background(), mustRef(t, "myregistry.io/app:v2")); !errors.Is(err, errdef.ErrNotFound) || oras.IsTransient(err) {
		t.Errorf("missing tag: %v", err)
	}
	if _, err := s.Referrers(context.Background(), mustRef(t, "myregistry.io/app:v1"), ""); !errors.Is(err, errdef.ErrInvalidReference) {
		t.Errorf("referrers of a tag: %v", err)
	}
}
