package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	orasgo "oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine/config"
)

func newFixtureCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fixture",
		Short: "Capture images and their signatures into OCI layouts for offline tests",
	}
	cmd.AddCommand(newFixtureCopyCmd(a))
	return cmd
}

type fixtureCopyOpts struct {
	subject, to, as, config string
	plainHTTP, layers       bool
}

func newFixtureCopyCmd(a *app) *cobra.Command {
	o := &fixtureCopyOpts{}
	cmd := &cobra.Command{
		Use:   "copy -s IMAGE --to DIR",
		Short: "Copy an image and everything attached to it into an OCI-layout directory",
		Long: `copy captures an image and its referrers (Notary Project signatures, SBOMs,
attestations, and what is attached to those) and its cosign signature
(the sha256-<hex>.sig tag) into an OCI-layout directory, so that policy tests
verify real signatures with no registry:

  ratify fixture copy -s localhost:5000/net-monitor:v1 --to fixtures

The layout keeps the reference's name: the image is tagged
localhost:5000/net-monitor:v1 in it, the cosign signature
localhost:5000/net-monitor:sha256-<hex>.sig. A Store resource serves it in
place of the registry:

  kind: Store
  spec:
    name: oci-layout
    parameters:
      path: fixtures                  # relative to where ratify runs
      scopes: ["localhost:5000/*"]
      cosignEnabled: true

--as stores the image under another name, to capture from one registry what
policies will see under another. Copying into an existing layout adds to it.

The image's layers are left out unless --with-layers: verification reads
only manifests and signatures, and fixtures belong in version control.

Source stores: with -c, the Store resources of that file; otherwise a
registry store over HTTPS with docker's credentials (--plain-http for HTTP).

Exit status: 0 copied, 1 the image was not found, 2 usage or transport error.`,
		Example: `  ratify fixture copy -s localhost:5000/net-monitor:v1 --to fixtures --plain-http
  ratify fixture copy -s localhost:5000/net-monitor@sha256:... --to fixtures -c resources.yaml
  ratify fixture copy -s localhost:5001/app:v1 --to fixtures --as localhost:5000/app:v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, a) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.subject, "subject", "s", "", "image reference to copy")
	f.StringVar(&o.to, "to", "", "OCI-layout directory to write (created if missing)")
	f.StringVar(&o.as, "as", "", "name the image gets in the layout: host/repo[:tag] (default: the subject's)")
	f.StringVarP(&o.config, "config", "c", "", "resources YAML whose Store resources to read from")
	f.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (default store only)")
	f.BoolVar(&o.layers, "with-layers", false, "also copy the image's layers")
	_ = cmd.MarkFlagRequired("subject")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func (o *fixtureCopyOpts) run(cmd *cobra.Command, a *app) error {
	ctx := cmd.Context()
	ref, err := oras.ParseReference(o.subject)
	if err != nil {
		return fail(exitError, err)
	}
	// The reference the image gets in the layout: the subject's name and
	// tag, or --as's (a tag left out of --as keeps the subject's).
	local := oras.Reference{Registry: ref.Registry, Repository: ref.Repository, Tag: ref.Tag}
	if o.as != "" {
		as, err := oras.ParseReference(o.as)
		if err != nil {
			return fail(exitError, fmt.Errorf("--as: %w", err))
		}
		if as.Digest != "" {
			return fail(exitError, fmt.Errorf("--as %s: give a name and tag, not a digest", o.as))
		}
		local.Registry, local.Repository = as.Registry, as.Repository
		if strings.LastIndex(o.as, ":") > strings.LastIndex(o.as, "/") {
			local.Tag = as.Tag
		}
	}
	cfgs, err := o.storeConfigs(a)
	if err != nil {
		return err
	}
	src, err := oras.New(ctx, cfgs, oras.Options{Logger: a.log})
	if err != nil {
		return fail(exitError, err)
	}
	repo, err := src.Repository(ref)
	if err != nil {
		return fail(exitError, err)
	}
	dst, err := oci.New(o.to)
	if err != nil {
		return fail(exitError, fmt.Errorf("OCI layout %s: %w", o.to, err))
	}
	root, err := src.Resolve(ctx, ref)
	if err != nil {
		return storeFailure(err)
	}
	root = plain(root)
	c := newFixtureCopy(repo, dst, o.layers)
	if err := c.copy(ctx, root); err != nil {
		return storeFailure(err)
	}
	if local.Tag != "" {
		if err := dst.Tag(ctx, root, local.Name()+":"+local.Tag); err != nil {
			return fail(exitError, err)
		}
	} else {
		local = local.WithDigest(root.Digest)
	}
	for _, s := range c.cosign {
		if err := dst.Tag(ctx, s.sig, local.Name()+":"+oras.CosignSignatureTag(s.of)); err != nil {
			return fail(exitError, err)
		}
	}

	// Read the result back as ratify will, offline: what is printed is what
	// a policy test sees.
	layout, err := oras.New(ctx, []oras.Config{{Name: "fixture", Type: oras.TypeLayout, Path: o.to, CosignEnabled: true}}, oras.Options{Logger: a.log})
	if err != nil {
		return fail(exitError, err)
	}
	tree, err := layout.Discover(ctx, local)
	if err != nil {
		return fail(exitError, fmt.Errorf("reading the copy back from %s: %w", o.to, err))
	}
	summary := fmt.Sprintf("copied %s to %s: %s, %s", local, o.to, plural(c.manifests, "manifest"), plural(c.blobs, "blob"))
	if c.skipped > 0 {
		summary += fmt.Sprintf(", %s left out (--with-layers copies them)", plural(c.skipped, "layer"))
	}
	fmt.Fprintln(a.stdout, summary)
	printTree(a.stdout, tree)
	return nil
}

// storeConfigs are the source stores. Every store looks for cosign's
// signature tag: a fixture without it would test less than the registry.
func (o *fixtureCopyOpts) storeConfigs(a *app) ([]oras.Config, error) {
	var cfgs []oras.Config
	if o.config != "" {
		res, err := config.LoadFile(o.config)
		if err != nil {
			return nil, fail(exitError, err)
		}
		res.Warn(a.log)
		if cfgs, err = res.StoreConfigs(); err != nil {
			return nil, fail(exitError, err)
		}
		if len(cfgs) == 0 {
			return nil, fail(exitError, fmt.Errorf("%s has no Store resource", o.config))
		}
	} else {
		auth, err := oras.NewDockerConfigAuth("")
		if err != nil {
			return nil, fail(exitError, err)
		}
		cfgs = []oras.Config{{Name: "default", Type: oras.TypeRemote, PlainHTTP: o.plainHTTP, Auth: auth}}
	}
	for i := range cfgs {
		cfgs[i].CosignEnabled = true
		if o.layers {
			cfgs[i].MaxBlobBytes = 1 << 30
		}
	}
	return cfgs, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// fixtureCopy copies an image and what refers to it from a store's
// repository into an OCI layout with oras.ExtendedCopyGraph, whose hooks
// add what ratify's fixtures need: the image's layers are left out unless
// --with-layers, the cosign signatures found by their tag are remembered
// to be tagged in the layout, and each is a successor-to-subject edge
// (its manifest names no subject, so without the edge an image signed
// only by cosign would not be copied with its signature).
type fixtureCopy struct {
	repo   *oras.Repository
	dst    *oci.Store
	layers bool

	// image are the manifests of the image (the subject and, for an index,
	// its platform manifests), in the order found; layersOut are their
	// layers, left out without --with-layers, and skipped counts them.
	image     []ocispec.Descriptor
	isImage   map[digest.Digest]bool
	layersOut map[digest.Digest]bool
	skipped   int

	// Written while ExtendedCopyGraph looks for predecessors, which it does
	// on one goroutine before it copies; read while it copies. found are
	// the predecessors, with the image the tops of what is copied.
	found  []ocispec.Descriptor
	cosign []cosignSig
	signs  map[digest.Digest][]ocispec.Descriptor

	// manifests and blobs count the copy as the layout holds it (tally).
	manifests, blobs int
}

type cosignSig struct {
	of  digest.Digest
	sig ocispec.Descriptor
}

func newFixtureCopy(repo *oras.Repository, dst *oci.Store, layers bool) *fixtureCopy {
	return &fixtureCopy{repo: repo, dst: dst, layers: layers, isImage: map[digest.Digest]bool{},
		layersOut: map[digest.Digest]bool{}, signs: map[digest.Digest][]ocispec.Descriptor{}}
}

// plain is a descriptor as the layout's index keeps it.
func plain(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// copy copies the image root names (an index with its platform
// manifests), then, for each of its manifests, whatever refers to it, to
// oras.MaxDiscoverDepth.
func (c *fixtureCopy) copy(ctx context.Context, root ocispec.Descriptor) error {
	if err := c.findImage(ctx, root); err != nil {
		return err
	}
	opts := orasgo.ExtendedCopyGraphOptions{
		CopyGraphOptions: orasgo.CopyGraphOptions{FindSuccessors: c.successors},
		Depth:            oras.MaxDiscoverDepth,
		FindPredecessors: c.predecessors,
	}
	// The image first: its referrers lead to it only through their
	// subject, which a registry may spell wrong.
	if err := orasgo.CopyGraph(ctx, c.repo, c.dst, root, opts.CopyGraphOptions); err != nil {
		return err
	}
	for _, m := range c.image {
		if err := orasgo.ExtendedCopyGraph(ctx, c.repo, c.dst, m, opts); err != nil {
			return err
		}
	}
	return c.tally(ctx)
}

// tally counts the manifests and blobs of the copy in the layout: what the
// image and the artifacts found lead to, whether copied now or before.
func (c *fixtureCopy) tally(ctx context.Context) error {
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		if !oras.IsManifest(d.MediaType) {
			c.blobs++
			return nil
		}
		c.manifests++
		succ, err := c.successors(ctx, c.dst, d)
		if err != nil {
			return err
		}
		for _, s := range succ {
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range append(slices.Clone(c.image), c.found...) {
		if err := walk(d); err != nil {
			return err
		}
	}
	return nil
}

// manifest is the part of every manifest kind (OCI or Docker image,
// index or list, artifact) that names other content.
type manifest struct {
	Layers    []ocispec.Descriptor `json:"layers"`
	Blobs     []ocispec.Descriptor `json:"blobs"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

// findImage records the manifests of the image desc names and their layers.
func (c *fixtureCopy) findImage(ctx context.Context, desc ocispec.Descriptor) error {
	if c.isImage[desc.Digest] || !oras.IsManifest(desc.MediaType) {
		return nil
	}
	c.isImage[desc.Digest] = true
	c.image = append(c.image, plain(desc))
	b, err := content.FetchAll(ctx, c.repo, desc)
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, child := range m.Manifests {
		if err := c.findImage(ctx, child); err != nil {
			return err
		}
	}
	if !c.layers {
		for _, l := range append(m.Layers, m.Blobs...) {
			c.layersOut[l.Digest] = true
			c.skipped++
		}
	}
	return nil
}

// predecessors are the repository's (referrers and cosign's tag); a
// cosign signature that its tag names is remembered.
func (c *fixtureCopy) predecessors(ctx context.Context, src content.ReadOnlyGraphStorage, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	list, err := src.Predecessors(ctx, node)
	if err != nil {
		return nil, err
	}
	c.found = append(c.found, list...)
	for _, p := range list {
		if p.ArtifactType != oras.CosignSignatureArtifactType {
			continue
		}
		// A signature cosign attached through the referrers API has the
		// same type; only the one at the tag is tagged in the layout.
		tagged, err := c.repo.Resolve(ctx, oras.CosignSignatureTag(node.Digest))
		switch {
		case err == nil && tagged.Digest == p.Digest:
			c.cosign = append(c.cosign, cosignSig{of: node.Digest, sig: plain(p)})
			c.signs[p.Digest] = append(c.signs[p.Digest], plain(node))
		case err != nil && !errors.Is(err, oras.ErrNotFound):
			return nil, err
		}
	}
	return list, nil
}

// successors are content.Successors, less the image's layers without
// --with-layers, plus what a cosign signature signs.
func (c *fixtureCopy) successors(ctx context.Context, fetcher content.Fetcher, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	succ, err := content.Successors(ctx, fetcher, desc)
	if err != nil {
		return nil, err
	}
	if c.isImage[desc.Digest] {
		succ = slices.DeleteFunc(succ, func(d ocispec.Descriptor) bool { return c.layersOut[d.Digest] })
	}
	return append(succ, c.signs[desc.Digest]...), nil
}
