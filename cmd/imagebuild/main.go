// Command imagebuild builds the ratify container image without Docker: the
// same image as the Dockerfile (a static /ratify, CA certificates, user
// 65532, nothing else), for several platforms, as an OCI image index. It
// pushes the index to a registry, or writes it as an OCI layout.
//
// Every timestamp is the commit time (or SOURCE_DATE_EPOCH), so a commit
// builds to the same digests on any machine with the same Go and CA bundle.
//
//	go run ./cmd/imagebuild                       # OCI layout in bin/image
//	go run ./cmd/imagebuild -push 127.0.0.1:5000/ratify:dev
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	platforms string
	push      string
	insecure  bool
	out       string
	ca        string
	version   string
	revision  string
	source    string
	goCmd     string
	dir       string
	pkg       string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated `os/arch` list, one image each")
	fs.StringVar(&o.push, "push", "", "push the index to this image `reference` instead of writing a layout")
	fs.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP to the registry (implied for localhost and 127.0.0.1)")
	fs.StringVar(&o.out, "out", "bin/image", "OCI layout `directory` written when not pushing")
	fs.StringVar(&o.ca, "ca", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle `file` installed in the image")
	fs.StringVar(&o.version, "version", "", "version label and layout tag (default: git describe --tags --always --dirty)")
	fs.StringVar(&o.revision, "revision", "", "revision label (default: git rev-parse HEAD)")
	fs.StringVar(&o.source, "source", "", "source label (default: https:// and the module path)")
	fs.StringVar(&o.goCmd, "go", "go", "the go `command`")
	fs.StringVar(&o.dir, "C", ".", "the module root `directory`")
	fs.StringVar(&o.pkg, "pkg", "./cmd/ratify", "the main `package` to build")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := build(ctx, o, stdout, stderr, log); err != nil {
		fmt.Fprintln(stderr, "imagebuild:", err)
		return 1
	}
	return 0
}

func build(ctx context.Context, o options, stdout, stderr io.Writer, log *slog.Logger) error {
	platforms, err := parsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	ca, err := readCABundle(o.ca)
	if err != nil {
		return err
	}
	spec, err := describe(ctx, o)
	if err != nil {
		return err
	}
	spec.CABundle = ca
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spec.Binaries, err = compile(ctx, compileOptions{
		Go: o.goCmd, Dir: o.dir, Package: o.pkg, Out: tmp, Log: log, Stderr: stderr,
	}, platforms)
	if err != nil {
		return err
	}
	idx, err := Build(spec)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if o.push != "" {
		ref, err := push(ctx, idx, o.push, o.insecure)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed %s@%s (%s)\n", ref, digest, o.platforms)
		return nil
	}
	out := o.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(o.dir, out)
	}
	if err := writeLayout(out, idx, spec.Version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the image index %s (%s, tag %s) as an OCI layout in %s; IMAGE=<ref> make image pushes it instead\n",
		digest, o.platforms, spec.Version, out)
	return nil
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := v1.ParsePlatform(f)
		if err != nil {
			return nil, err
		}
		if p.OS != "linux" {
			return nil, fmt.Errorf("platform %s: the image is for linux only", f)
		}
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, ErrNoPlatform
	}
	return out, nil
}

// describe fills the labels and the timestamp from the flags, then git and
// SOURCE_DATE_EPOCH.
func describe(ctx context.Context, o options) (Spec, error) {
	s := Spec{Version: o.version, Revision: o.revision, Source: o.source}
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = o.dir
		b, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%w: git %s: %v (pass -version, -revision and SOURCE_DATE_EPOCH outside a git checkout)",
				ErrNoGitInfo, strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var err error
	if s.Version == "" {
		if s.Version, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
			return s, err
		}
	}
	if s.Revision == "" {
		if s.Revision, err = git("rev-parse", "HEAD"); err != nil {
			return s, err
		}
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git("log", "-1", "--format=%ct"); err != nil {
			return s, err
		}
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return s, fmt.Errorf("%w: time %q is not seconds since 1970", ErrNoGitInfo, epoch)
	}
	s.Created = time.Unix(sec, 0).UTC()
	if s.Source == "" {
		cmd := exec.CommandContext(ctx, o.goCmd, "list", "-m", "-f", "{{.Path}}")
		cmd.Dir = o.dir
		b, err := cmd.Output()
		if err != nil {
			return s, fmt.Errorf("go list -m: %w", err)
		}
		s.Source = "https://" + strings.TrimSpace(string(b))
	}
	return s, nil
}
