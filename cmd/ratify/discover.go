package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine/config"
)

type discoverOpts struct {
	subject   string
	config    string
	layout    string
	output    string
	plainHTTP bool
}

func newDiscoverCmd(a *app) *cobra.Command {
	o := &discoverOpts{}
	cmd := &cobra.Command{
		Use:   "discover -s IMAGE",
		Short: "List the signatures and other artifacts attached to an image",
		Long: `discover resolves an image and prints its referrer tree: every artifact whose
subject is the image (Notary Project signatures, Cosign signatures, SBOMs, ...)
with its artifact type, digest and size, and the artifacts attached to those.

Referrers come from the OCI 1.1 referrers API, or the referrers tag schema
(sha256-<hex>) on registries without it. Cosign's sha256-<hex>.sig tag is
listed as application/vnd.dev.cosign.artifact.sig.v1+json.

Stores: with -c, the Store resources of that file; with --oci-layout, an OCI
layout directory (then -s may be a full reference, a tag or a digest);
otherwise a registry store over HTTPS with docker's credentials
($DOCKER_CONFIG or ~/.docker/config.json) that also looks for cosign
signatures.

Exit status: 0 the image was found, 1 it was not, 2 usage or transport error.`,
		Example: `  ratify discover -s myregistry.example.com/ratify-demo/net-monitor:v1
  ratify discover -s localhost:5000/app:v1 --plain-http -o json
  ratify discover -s myregistry.io/app:v1 --oci-layout ./fixtures
  ratify discover -s myregistry.io/app:v1 -c resources.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, a)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.subject, "subject", "s", "", "image reference (host/repo:tag or host/repo@digest)")
	f.StringVarP(&o.config, "config", "c", "", "resources YAML whose Store resources to use")
	f.StringVar(&o.layout, "oci-layout", "", "read from this OCI-layout directory instead of a registry")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (default store only)")
	_ = cmd.MarkFlagRequired("subject")
	return cmd
}

// layoutName stands in for the registry and repository of a bare tag or
// digest given with --oci-layout.
const layoutName = "oci-layout/local"

func (o *discoverOpts) run(cmd *cobra.Command, a *app) error {
	if o.output != "text" && o.output != "json" {
		return fail(exitError, fmt.Errorf("--output %q: want text or json", o.output))
	}
	if o.config != "" && o.layout != "" {
		return fail(exitError, errors.New("use either -c or --oci-layout, not both"))
	}
	subject := o.subject
	var cfgs []oras.Config
	switch {
	case o.config != "":
		res, err := config.LoadFile(o.config)
		if err != nil {
			return fail(exitError, err)
		}
		res.Warn(a.log)
		if cfgs, err = res.StoreConfigs(); err != nil {
			return fail(exitError, err)
		}
		if len(cfgs) == 0 {
			return fail(exitError, fmt.Errorf("%s has no Store resource", o.config))
		}
	case o.layout != "":
		// The layout's bare tags answer for layoutName (what a bare tag or
		// digest is read as); "*" keeps full references working through
		// the layout's full-name tags.
		cfgs = []oras.Config{{Name: "oci-layout", Type: oras.TypeLayout, Path: o.layout, CosignEnabled: true,
			Scopes: []string{oras.DockerHub + "/" + layoutName, "*"}}}
		subject = layoutSubject(subject)
	default:
		auth, err := oras.NewDockerConfigAuth("")
		if err != nil {
			return fail(exitError, err)
		}
		cfgs = []oras.Config{{Name: "default", Type: oras.TypeRemote, CosignEnabled: true, PlainHTTP: o.plainHTTP, Auth: auth}}
	}
	ref, err := oras.ParseReference(subject)
	if err != nil {
		return fail(exitError, err)
	}
	store, err := oras.New(cmd.Context(), cfgs, oras.Options{Logger: a.log})
	if err != nil {
		return fail(exitError, err)
	}
	tree, err := store.Discover(cmd.Context(), ref)
	if err != nil {
		return storeFailure(err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	printTree(a.stdout, tree)
	return nil
}

// layoutSubject turns a bare tag or digest into a reference the layout
// store serves; full references pass through.
func layoutSubject(s string) string {
	switch {
	case strings.HasPrefix(s, "@"):
		return layoutName + s
	case strings.HasPrefix(s, "sha256:"), strings.HasPrefix(s, "sha512:"):
		return layoutName + "@" + s
	case !strings.ContainsAny(s, "/:@"):
		return layoutName + ":" + s
	}
	return s
}

// storeFailure is the exit of a command whose image could not be read:
// 1 when it does not exist, 2 otherwise, with a hint for the commonest
// mistake with local registries.
func storeFailure(err error) error {
	if errors.Is(err, oras.ErrNotFound) {
		return fail(exitNegative, err)
	}
	if strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		err = fmt.Errorf("%w (the registry speaks plain HTTP: use --plain-http, or useHttp: true in the Store)", err)
	}
	return fail(exitError, err)
}

func printTree(w io.Writer, n *oras.Node) {
	fmt.Fprintln(w, n.Reference)
	printChildren(w, n.Referrers, "")
}

func printChildren(w io.Writer, nodes []*oras.Node, indent string) {
	for i, c := range nodes {
		branch, next := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, next = "└── ", "    "
		}
		fmt.Fprintf(w, "%s%s%s %s (%d bytes)\n", indent, branch, c.ArtifactType, c.Digest, c.Size)
		printChildren(w, c.Referrers, indent+next)
	}
}
