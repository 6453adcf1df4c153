package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Where `ratify policy fixtures DIR` writes, inside DIR.
const (
	fixturesLayout    = "layout"
	fixturesResources = "resources.yaml"
)

var errNotALayout = errors.New("exists and is not an OCI layout; give another directory")

func newPolicyFixturesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "fixtures DIR",
		Short: "Sign the images the shipped policies' tests expect into an OCI layout, with fresh keys",
		Long: `fixtures writes, with no registry, the images the tests of the shipped
policies (policies/ in ratify's source) decide on: DIR/layout is an OCI
layout holding them under their names (localhost:5001/app:notation,
localhost:5001/app:cosign, ...), signed with keys and certificates made for
this run (Notary Project signatures with notation-go, cosign signatures in
cosign's format), and DIR/resources.yaml the resources the tests run with: an
oci-layout Store serving the layout as those registries, the key management
providers the policies name (notation-certs, cosign-key-1, cosign-key-2,
cosign-rotating), and a notation and a cosign Verifier of the shape of
policies/notation-or-cosign. Then:

  ratify policy test policies/ -c DIR/resources.yaml

Each run makes new keys: a layout of an earlier run in DIR/layout is replaced.`,
		Example: `  ratify policy fixtures .fixtures/policies
  ratify policy test policies/ -c .fixtures/policies/resources.yaml
  ratify policy show -c .fixtures/policies/resources.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return fail(exitError, err)
			}
			layout := filepath.Join(dir, fixturesLayout)
			if err := clearLayout(layout); err != nil {
				return fail(exitError, err)
			}
			if err := os.MkdirAll(layout, 0o755); err != nil {
				return fail(exitError, err)
			}
			f, err := sample.WritePolicyFixtures(cmd.Context(), layout)
			if err != nil {
				return fail(exitError, err)
			}
			resources := filepath.Join(dir, fixturesResources)
			if err := os.WriteFile(resources, []byte(f.Resources(layout)), 0o644); err != nil {
				return fail(exitError, err)
			}
			fmt.Fprintf(a.stdout, "wrote %d images to %s and their resources to %s:\n", len(f.Images), layout, resources)
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			for _, img := range f.Images {
				fmt.Fprintf(tw, "  %s\t%s\n", img.Name, img.SignedWith)
			}
			_ = tw.Flush()
			fmt.Fprintf(a.stdout, "test the shipped policies with: ratify policy test policies/ -c %s\n", resources)
			return nil
		},
	}
}

// clearLayout removes the OCI layout a previous run wrote at path, and
// refuses to remove anything else.
func clearLayout(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(path, ocispec.ImageLayoutFile)); err != nil {
		return fmt.Errorf("%s %w", path, errNotALayout)
	}
	return os.RemoveAll(path)
}
