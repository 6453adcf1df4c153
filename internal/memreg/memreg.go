// Package memreg is registry content held in memory (oras-go's
// content/memory) behind the interfaces the builtin families take
// (oras.Content), for unit tests that need images and referrers but no
// registry. It counts the calls made of it, so tests can tell a cached
// result from a fresh one, and can be made to fail.
package memreg

import (
	"context"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Content is one in-memory repository space: every reference's tag or
// digest is looked up in the same store, whatever its registry and
// repository.
type Content struct {
	*memory.Store

	mu    sync.Mutex
	calls map[string]int
	fail  error
	// manifests by digest: the memory store resolves tags only.
	manifests map[digest.Digest]ocispec.Descriptor
}

// New returns empty content.
func New() *Content {
	return &Content{Store: memory.New(), calls: map[string]int{}, manifests: map[digest.Digest]ocispec.Descriptor{}}
}

// Image pushes a fresh image tagged tag and returns its descriptor.
func (c *Content) Image(ctx context.Context, tag string) (ocispec.Descriptor, error) {
	return c.keep(sample.PushImage(ctx, c.Store, tag))
}

func (c *Content) keep(desc ocispec.Descriptor, err error) (ocispec.Descriptor, error) {
	if err == nil {
		c.mu.Lock()
		c.manifests[desc.Digest] = desc
		c.mu.Unlock()
	}
	return desc, err
}

// Attach pushes an artifact of artifactType whose subject is subject.
func (c *Content) Attach(ctx context.Context, subject ocispec.Descriptor, artifactType string, payload []byte) (ocispec.Descriptor, error) {
	return c.keep(sample.PushArtifact(ctx, c.Store, subject, artifactType, payload, nil))
}

// Fail makes every later call fail with err (nil: succeed again).
func (c *Content) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// Calls is how many times op ("resolve", "referrers", "fetch") was called.
func (c *Content) Calls(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *Content) count(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	return c.fail
}

// Resolve implements oras.Resolver.
func (c *Content) Resolve(ctx context.Context, ref oras.Reference) (ocispec.Descriptor, error) {
	if err := c.count("resolve"); err != nil {
		return ocispec.Descriptor{}, err
	}
	if ref.Digest != "" {
		c.mu.Lock()
		desc, ok := c.manifests[ref.Digest]
		c.mu.Unlock()
		if !ok {
			return desc, notFound("resolve", ref, errdef.ErrNotFound)
		}
		return desc, nil
	}
	desc, err := c.Store.Resolve(ctx, ref.Tag)
	if err != nil {
		return desc, notFound("resolve", ref, err)
	}
	return desc, nil
}

// Referrers implements oras.ReferrerLister.
func (c *Content) Referrers(ctx context.Context, subject oras.Reference, artifactType string) ([]ocispec.Descriptor, error) {
	if err := c.count("referrers"); err != nil {
		return nil, err
	}
	preds, err := c.Store.Predecessors(ctx, ocispec.Descriptor{Digest: subject.Digest})
	if err != nil {
		return nil, notFound("referrers", subject, err)
	}
	var out []ocispec.Descriptor
	for _, d := range preds {
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}

// Fetch implements oras.Fetcher.
func (c *Content) Fetch(ctx context.Context, ref oras.Reference, desc ocispec.Descriptor) ([]byte, error) {
	if err := c.count("fetch"); err != nil {
		return nil, err
	}
	b, err := content.FetchAll(ctx, c.Store, desc)
	if err != nil {
		return nil, notFound("fetch", ref, err)
	}
	return b, nil
}

// notFound reports a missing object as the store does: an *oras.Error of
// kind oras.ErrNotFound.
func notFound(op string, ref oras.Reference, err error) error {
	return &oras.Error{Op: op, Ref: ref.String(), Kind: oras.ErrNotFound, Err: err}
}

// SBOM is the artifact type Sample attaches.
const SBOM = "application/vnd.example.sbom"

// Sample returns content holding one image tagged v1 with one SBOM
// attached, and the image's descriptor.
func Sample(ctx context.Context) (*Content, ocispec.Descriptor, error) {
	c := New()
	img, err := c.Image(ctx, "v1")
	if err == nil {
		_, err = c.Attach(ctx, img, SBOM, []byte("sbom"))
	}
	return c, img, err
}

// CheckReports fails t unless reps is what an evaluation that made at most
// one failing call should leave: none when verifier is "", else exactly
// one failed report of verifier.
func CheckReports(t testing.TB, reps []report.Report, verifier string) {
	t.Helper()
	switch {
	case verifier == "" && len(reps) != 0:
		t.Fatalf("reports %+v, want none", reps)
	case verifier != "" && (len(reps) != 1 || reps[0].Verifier != verifier || reps[0].IsSuccess):
		t.Fatalf("reports %+v, want one failed %s", reps, verifier)
	}
}
