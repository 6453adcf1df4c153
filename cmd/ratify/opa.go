package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	opacmd "github.com/open-policy-agent/opa/cmd"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/engine/opa"
)

// configEnv names the resources file when -c is not given, for `ratify opa`
// and `ratify policy test`.
const configEnv = "RATIFY_CONFIG"

// errReported ends a command whose output already said what went wrong
// (OPA prints its own errors): run() prints nothing more for errDenied and
// what wraps it, and exits with the code the command chose.
var errReported = fmt.Errorf("%w: already reported", errDenied)

const opaLong = `opa is OPA's own command line (eval, test, check, fmt, bench, capabilities,
...) with ratify's builtins (oras.*, kmp.*, notation.*, cosign.*) compiled in,
so every OPA habit and flag works on ratify policies.

Builtins read images, signatures, keys and certificates through the Store and
KeyManagementProvider resources of a resources YAML, given before the OPA
command (OPA's own -c flags mean other things):

  -c, --config FILE       resources YAML (default: $RATIFY_CONFIG)
  -n, --namespace NAME    namespace whose providers the builtins see
                          (as a NamespacedPolicy of NAME would; default cluster-wide)

Without resources, policies still compile and tests that mock the builtins
(with notation.verify as ...) run; a builtin that is called fails with
"no ratify configuration". Exit codes are OPA's.

check, eval, test and bench compile with the capabilities ratify's engine
compiles policies with (see ratify policy capabilities), so they reject
what the server rejects: http.send, net.*, opa.runtime and the JSON schema
builtins are not available. Give --capabilities to choose others.`

func newOpaCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "opa [-c RESOURCES] [-n NAMESPACE] COMMAND [ARGS...]",
		Short: "OPA's command line with ratify's builtins (eval, test, check, ...)",
		Long:  opaLong,
		Example: `  ratify opa -c resources.yaml test policies/ -v
  ratify opa -c resources.yaml eval -I -d policy.rego 'data.ratify.policy.allow' <<<'{"reference": "localhost:5000/app:v1"}'
  ratify opa check policies/
  ratify policy capabilities -o ratify-capabilities.json`,
		// OPA parses its own flags; ratify's come before the OPA command.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOPA(cmd, a, args)
		},
	}
}

// runOPA loads the resources named by the leading flags, makes them
// reachable to the builtins, and runs OPA's command line on the rest.
func runOPA(cmd *cobra.Command, a *app, args []string) error {
	cfg, ns, rest, err := splitOPAArgs(args)
	if err != nil {
		return fail(exitError, err)
	}
	if cfg == "" {
		cfg = os.Getenv(configEnv)
	}
	opa.Register()
	if cfg != "" {
		eng, err := loadEngine(cmd, a, cfg)
		if err != nil {
			return err
		}
		bindSession(eng.NewSession(ns))
	}

	rest, cleanup, err := withCapabilities(rest)
	if err != nil {
		return fail(exitError, err)
	}
	defer cleanup()

	// A parent named ratify makes OPA's usage lines read `ratify opa eval`.
	parent := &cobra.Command{Use: "ratify", SilenceUsage: true}
	// NoArgs and a RunE make an unknown command an error, as in OPA (cobra
	// checks subcommand names by itself only on root commands).
	root := &cobra.Command{Use: "opa", Short: "OPA with ratify's builtins", Long: opaLong, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	opacmd.Command(root, "OPA")
	parent.AddCommand(root)
	parent.SetArgs(append([]string{"opa"}, rest...))
	parent.SetOut(a.stdout)
	parent.SetErr(a.stderr)
	err = parent.ExecuteContext(cmd.Context())
	if err == nil {
		return nil
	}
	// OPA's main exits with an ExitError's code, and 1 for anything else;
	// either way the command has printed why.
	if e, ok := errors.AsType[*opacmd.ExitError](err); ok {
		return fail(e.Exit, errReported)
	}
	return fail(1, errReported)
}

// withCapabilities gives OPA's commands that compile policies ratify's
// capabilities (a file written for the command's run), unless the command
// line chooses its own: a test of a policy that calls http.send fails as
// the server would.
func withCapabilities(args []string) ([]string, func(), error) {
	nothing := func() {}
	if len(args) == 0 {
		return args, nothing, nil
	}
	switch args[0] {
	case "check", "eval", "test", "bench":
	default:
		return args, nothing, nil
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "--capabilities" || strings.HasPrefix(a, "--capabilities=") {
			return args, nothing, nil
		}
	}
	b, err := capabilitiesJSON()
	if err != nil {
		return nil, nil, err
	}
	f, err := os.CreateTemp("", "ratify-capabilities-*.json")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := f.Write(b); err != nil {
		f.Close()
		cleanup()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return append([]string{args[0], "--capabilities=" + f.Name()}, args[1:]...), cleanup, nil
}

// splitOPAArgs takes ratify's flags from the front of args: -c/--config and
// -n/--namespace, as `-c FILE` or `-c=FILE`. The first other argument starts
// OPA's command line.
func splitOPAArgs(args []string) (cfg, ns string, rest []string, err error) {
	for len(args) > 0 {
		name, val, hasVal := strings.Cut(args[0], "=")
		var dst *string
		switch name {
		case "-c", "--config":
			dst = &cfg
		case "-n", "--namespace":
			dst = &ns
		default:
			return cfg, ns, args, nil
		}
		if hasVal {
			args = args[1:]
		} else {
			if len(args) < 2 {
				return "", "", nil, fmt.Errorf("ratify opa: %s needs a value", name)
			}
			val, args = args[1], args[2:]
		}
		if val == "" {
			return "", "", nil, fmt.Errorf("ratify opa: %s needs a value", name)
		}
		*dst = val
	}
	return cfg, ns, nil, nil
}

// bindSession makes ratify's builtins use sess in every evaluation whose context
// carries no Session.
//
// Why not the context, as everywhere else: OPA's commands build their own
// context (context.Background() in cmd/eval.go and cmd/test.go of OPA
// v1.22.2) and expose no option to add a value to it, and BuiltinContext has
// no other field a command line can fill with a Go value. The one hook OPA
// offers is builtin registration, which is process-wide already: each
// builtin's implementation is re-registered here, wrapping the one
// engine/opa registered, so that it falls back to sess. No other state is
// kept. A Session that the context carries (the engine's, `ratify policy
// test`'s) still wins. Only `ratify opa` does this, in a process that runs
// one OPA command and exits, so the Session lives exactly as long as that
// command: one evaluation environment for the whole command, memoizing
// builtin calls across its queries and tests.
func bindSession(sess *builtins.Session) {
	for _, f := range builtins.Table {
		impl := topdown.GetBuiltin(f.Name)
		if impl == nil {
			continue // not registered: opa.Register was not called
		}
		topdown.RegisterBuiltinFunc(f.Name, func(bctx topdown.BuiltinContext, terms []*ast.Term, iter func(*ast.Term) error) error {
			if bctx.Context == nil {
				bctx.Context = context.Background()
			}
			if _, ok := builtins.SessionFrom(bctx.Context); !ok {
				bctx.Context = builtins.WithSession(bctx.Context, sess)
			}
			return impl(bctx, terms, iter)
		})
	}
}
