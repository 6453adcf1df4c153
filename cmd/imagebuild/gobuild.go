package main

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// compileOptions say how to build the ratify binary.
type compileOptions struct {
	Go      string // the go command
	Dir     string // the module root
	Package string // the main package, ./cmd/ratify
	Out     string // directory for the binaries
	Log     *slog.Logger
	Stderr  io.Writer // the compiler's output
}

// compile cross-builds a static ratify binary per platform, one after the
// other (the builds share the machine's cores anyway).
func compile(ctx context.Context, o compileOptions, platforms []v1.Platform) ([]PlatformBinary, error) {
	var out []PlatformBinary
	for _, p := range platforms {
		path := filepath.Join(o.Out, "ratify-"+p.OS+"-"+p.Architecture+p.Variant)
		o.Log.Info("building", "platform", p.String(), "binary", path)
		// -buildvcs=auto on the command line wins over a GOFLAGS that turns
		// it off, so `ratify version` and the image's revision label agree.
		cmd := exec.CommandContext(ctx, o.Go, "build", "-buildvcs=auto", "-trimpath", "-ldflags=-s -w", "-o", path, o.Package)
		cmd.Dir = o.Dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
		if p.Architecture == "arm" && p.Variant != "" {
			cmd.Env = append(cmd.Env, "GOARM="+p.Variant[1:])
		}
		cmd.Stdout, cmd.Stderr = o.Stderr, o.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build for %s: %w", p, err)
		}
		if err := checkStatic(path, p); err != nil {
			return nil, err
		}
		out = append(out, PlatformBinary{Platform: p, Path: path})
	}
	return out, nil
}

// elfMachines are the ELF machine of each GOARCH the image may be built for.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkStatic refuses a binary that would not start in an image with no
// libc or loader: one for another architecture, or one linked dynamically
// (cgo slipped in).
func checkStatic(path string, p v1.Platform) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotStatic, path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[p.Architecture]; !ok || f.Machine != want {
		return fmt.Errorf("%w: %s is for %s, not %s", ErrNotStatic, path, f.Machine, p)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%w: %s is dynamically linked", ErrNotStatic, path)
		}
	}
	return nil
}
