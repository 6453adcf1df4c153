package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

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
	dst, err := oci.New(o.to)
	if err != nil {
		return fail(exitError, fmt.Errorf("OCI layout %s: %w", o.to, err))
	}
	c := &copier{src: src, dst: dst, repo: ref, layers: o.layers, done: map[digest.Digest]bool{}}
	root, err := c.copyImage(ctx, ref)
	if err != nil {
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
		// The copier resolves the signature tag itself, so that it knows
		// which descriptor to tag in the layout.
		cfgs[i].CosignEnabled = false
		if o.layers {
			cfgs[i].MaxBlobBytes = 1 << 30
		}
	}
	return cfgs, nil
}

// copier copies manifests and blobs from a ratify store into an OCI layout.
type copier struct {
	src    *oras.Store
	dst    *oci.Store
	repo   oras.Reference // the repository content is read from
	layers bool

	done                      map[digest.Digest]bool
	cosign                    []cosignSig
	manifests, blobs, skipped int
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

type cosignSig struct {
	of  digest.Digest
	sig ocispec.Descriptor
}

// copyImage copies the image ref names (an index with its platform
// manifests), then whatever refers to it.
func (c *copier) copyImage(ctx context.Context, ref oras.Reference) (ocispec.Descriptor, error) {
	desc, err := c.src.Resolve(ctx, ref)
	if err != nil {
		return desc, err
	}
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	var images []digest.Digest
	if err := c.copyNode(ctx, desc, !c.layers, &images); err != nil {
		return desc, err
	}
	for _, d := range images {
		if err := c.copyReferrers(ctx, d, 1); err != nil {
			return desc, err
		}
	}
	return desc, nil
}

// copyReferrers copies the artifacts attached to d and, to
// oras.MaxDiscoverDepth, those attached to them.
func (c *copier) copyReferrers(ctx context.Context, d digest.Digest, depth int) error {
	if depth > oras.MaxDiscoverDepth {
		return nil
	}
	subject := c.repo.WithDigest(d)
	list, err := c.src.Referrers(ctx, subject, "")
	if err != nil {
		return err
	}
	sigRef := c.repo
	sigRef.Digest, sigRef.Tag = "", oras.CosignSignatureTag(d)
	sig, err := c.src.Resolve(ctx, sigRef)
	switch {
	case err == nil:
		sig = ocispec.Descriptor{MediaType: sig.MediaType, Digest: sig.Digest, Size: sig.Size}
		c.cosign = append(c.cosign, cosignSig{of: d, sig: sig})
		list = append(list, sig)
	case !errors.Is(err, oras.ErrNotFound):
		return err
	}
	for _, r := range list {
		if c.done[r.Digest] {
			continue
		}
		var manifests []digest.Digest
		if err := c.copyNode(ctx, r, false, &manifests); err != nil {
			return err
		}
		for _, m := range manifests {
			if err := c.copyReferrers(ctx, m, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// manifest is the part of every manifest kind (OCI or Docker image,
// index or list, artifact) that names other content.
type manifest struct {
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Blobs     []ocispec.Descriptor `json:"blobs"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

// copyNode copies desc and what it names, children first, so the layout
// never holds a manifest whose content was not written. skipLayers leaves
// image layers out. Manifests copied are appended to manifests.
func (c *copier) copyNode(ctx context.Context, desc ocispec.Descriptor, skipLayers bool, manifests *[]digest.Digest) error {
	if c.done[desc.Digest] {
		return nil
	}
	c.done[desc.Digest] = true
	b, err := c.src.Fetch(ctx, c.repo, desc)
	if err != nil {
		return err
	}
	isManifest := oras.IsManifest(desc.MediaType)
	if isManifest {
		*manifests = append(*manifests, desc.Digest)
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		for _, child := range m.Manifests {
			if err := c.copyNode(ctx, child, skipLayers, manifests); err != nil {
				return err
			}
		}
		if m.Config != nil {
			if err := c.copyNode(ctx, *m.Config, skipLayers, manifests); err != nil {
				return err
			}
		}
		for _, l := range append(m.Layers, m.Blobs...) {
			if skipLayers {
				c.skipped++
				continue
			}
			if err := c.copyNode(ctx, l, skipLayers, manifests); err != nil {
				return err
			}
		}
	}
	plain := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	if err := c.dst.Push(ctx, plain, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("writing %s: %w", desc.Digest, err)
	}
	if isManifest {
		c.manifests++
	} else {
		c.blobs++
	}
	return nil
}
