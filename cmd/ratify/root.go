package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	exitOK       = 0
	exitNegative = 1 // not found (discover), denied (verify)
	exitError    = 2 // usage, configuration or transport error
)

// exitErr carries a command's exit code with its one-line reason.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitErr{code: code, err: err} }

// app is what every command shares.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	verbose        bool
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "ratify",
		Short: "Admit only container images with trusted signatures",
		Long: `ratify checks the supply-chain artifacts attached to container images
(Notary Project and Cosign signatures) against trust policy.

Configuration is the same config.ratify.deislabs.io resources a cluster uses
(Store, Verifier, KeyManagementProvider, Policy), read from a YAML file with -c.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelDebug
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log debug details to stderr")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fail(exitError, err) })
	root.AddCommand(newDiscoverCmd(a), newVerifyCmd(a), newServeCmd(a), newDemoCmd(a), newPolicyCmd(a), newOpaCmd(a), newFixtureCmd(a), newLibraryCmd(a), newVersionCmd(a))
	return root
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	code := exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errDenied) {
		return code // the verdict and its reasons are already on stdout
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") || strings.Contains(msg, "required flag") {
		msg += " (see ratify --help)"
	}
	fmt.Fprintln(stderr, "Error:", msg)
	return code
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of ratify",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintln(a.stdout, "ratify", v)
		},
	}
}
