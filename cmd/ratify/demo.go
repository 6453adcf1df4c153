package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

func newDemoCmd(a *app) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the provider on a sample registry, with ready-to-paste requests",
		Long: `demo starts, in one process and on 127.0.0.1 only:
  - a registry holding three sample images: one signed with a Notary Project
    signature, one with a cosign signature, one unsigned (keys and
    certificates are generated at start, signatures made with notation-go and
    cosign's format);
  - the provider (plain HTTP, as ratify serve --http) configured by resources
    that trust those keys, written to a temporary file it prints;
and prints curl requests in Gatekeeper's wire format whose answers show an
allow and a deny. Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, a, addr) },
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:6001", "provider address")
	return cmd
}

func runDemo(cmd *cobra.Command, a *app, addr string) error {
	ctx := cmd.Context()
	// The registry: go-containerregistry's, without the referrers API, so
	// signatures are found through the referrers tag schema.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(exitError, err)
	}
	defer ln.Close()
	go func() {
		_ = http.Serve(ln, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	}()
	host := ln.Addr().String()
	name := host + "/ratify-demo/net-monitor"
	repo, err := remote.NewRepository(name)
	if err != nil {
		return fail(exitError, err)
	}
	repo.PlainHTTP = true

	pki, err := sample.NewPKI(sample.Options{CommonName: "ratify-demo"})
	if err != nil {
		return fail(exitError, err)
	}
	key, err := sample.NewCosignKey()
	if err != nil {
		return fail(exitError, err)
	}
	for _, tag := range []string{"notation", "cosign", "unsigned"} {
		d, err := sample.PushImage(ctx, repo, tag)
		if err == nil && tag == "notation" {
			err = sample.Notation(ctx, pki, repo, d, sample.JWS)
		}
		if err == nil && tag == "cosign" {
			_, err = sample.Cosign(ctx, key, repo, name, d, "")
		}
		if err != nil {
			return fail(exitError, fmt.Errorf("sample image %s: %w", tag, err))
		}
	}

	dir, err := os.MkdirTemp("", "ratify-demo-")
	if err != nil {
		return fail(exitError, err)
	}
	defer os.RemoveAll(dir)
	resPath := filepath.Join(dir, "resources.yaml")
	if err := os.WriteFile(resPath, []byte(sample.Resources(sample.Trust{CertificatePEM: pki.CAPEM(), Subject: pki.Subject(), KeyPEM: key.PublicPEM()})), 0o600); err != nil {
		return fail(exitError, err)
	}
	res, err := config.LoadFile(resPath)
	if err != nil {
		return fail(exitError, err)
	}
	srv := server.New(server.Options{Logger: a.log})
	eng, err := engine.New(ctx, res, srv.EngineOptions(engine.Options{Logger: a.log}))
	if err != nil {
		return fail(exitError, err)
	}
	srv.SetEngine(eng)
	ready := func(bound string) {
		printDemo(a.stdout, bound, name, resPath)
	}
	if err := srv.ListenAndServe(ctx, server.ServeOptions{Addr: addr, MetricsAddr: "-", PlainHTTP: true, Ready: ready}); err != nil {
		return fail(exitError, err)
	}
	return nil
}

func printDemo(w io.Writer, addr, name, resPath string) {
	req := func(path string, keys ...string) string {
		body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
			"request": map[string]any{"keys": keys}})
		return fmt.Sprintf("curl -s -X POST http://%s%s -H 'Content-Type: application/json' -d '%s'", addr, path, body)
	}
	fmt.Fprintf(w, `ratify demo: the provider is listening on http://%[1]s
sample registry: %[2]s (tags notation, cosign, unsigned)
resources: %[3]s  (try: ratify verify -c %[3]s -s %[2]s:cosign)

# allowed: a Notary Project signature by a trusted certificate
%[4]s

# allowed: a cosign signature by a trusted key
%[5]s

# denied: no signatures ("isSuccess": false, the reason in the "policy" report)
%[6]s

# several keys at once, as Gatekeeper sends the images of one pod
%[7]s

# mutation: the tag replaced by the digest that was verified
%[8]s

Press Ctrl-C to stop.
`, addr, name, resPath,
		req(server.VerifyPath, name+":notation"), req(server.VerifyPath, name+":cosign"),
		req(server.VerifyPath, name+":unsigned"),
		req(server.VerifyPath, name+":notation", name+":cosign", name+":unsigned"),
		req(server.MutatePath, name+":cosign"))
}
