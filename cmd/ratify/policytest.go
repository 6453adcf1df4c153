package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/opa"
)

type policyTestOpts struct {
	config, namespace string
	run, format       string
	verbose           bool
	timeout           time.Duration
}

func newPolicyTestCmd(a *app) *cobra.Command {
	o := &policyTestOpts{}
	cmd := &cobra.Command{
		Use:   "test [PATH...] [-c RESOURCES]",
		Short: "Run Rego and CEL policy tests, with real signatures or mocks",
		Long: `test runs the policy tests found in PATHs (files or directories, searched
recursively; default the current directory), as ` + "`opa test`" + ` does, with ratify's
builtins backed by the Store and KeyManagementProvider resources of -c:

  *.rego         Rego modules; rules named test_* are tests. Builtins verify
                 real signatures (an oci-layout Store serves captured ones
                 offline, see ratify fixture copy) or are mocked:
                 ` + "`allow with notation.verify as {\"isSuccess\": true}`" + `
  *.json         data documents, as for opa test
  *_test.yaml    CEL (or any policy) test cases: decisions of the policy in
                 force, or of the Policy resources of the file named by policy:
                   policy: policy.cel.yaml
                   cases:
                     - {name: signed, subject: localhost:5000/app:v1, allow: true}
                     - {subject: localhost:5000/app:unsigned, allow: false, reason: no signatures}

Other YAML files are not read (they are resources and CEL policies; give test
data as JSON). Results are reported as opa test reports them, CEL cases as
cel.<file>.test_<name>.

Exit status, as opa test: 0 every test passed, 2 a test failed or raised an
error, 1 the tests could not be run (parse or compile errors, bad resources,
no test found).`,
		Example: `  ratify policy test policies/ -c resources.yaml
  ratify policy test . -c resources.yaml -v --run 'rotation'
  ratify policy test policies/both-required --format json`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.runTests(cmd, a, args) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "resources YAML: Stores and KeyManagementProviders the builtins use (default $"+configEnv+")")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace whose providers Rego tests see, as a NamespacedPolicy of it would")
	f.StringVarP(&o.run, "run", "r", "", "run only tests whose full name matches this regular expression")
	f.StringVarP(&o.format, "format", "f", "pretty", "output format: pretty or json")
	// Named verbose, as ratify's persistent flag, so it replaces it here
	// with opa test's meaning.
	f.BoolVarP(&o.verbose, "verbose", "v", false, "report every test, with traces of failures")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "time limit of one test")
	return cmd
}

func (o *policyTestOpts) runTests(cmd *cobra.Command, a *app, paths []string) error {
	if o.format != "pretty" && o.format != "json" {
		return fail(exitError, fmt.Errorf("--format %q: want pretty or json", o.format))
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var filter *regexp.Regexp
	if o.run != "" {
		var err error
		if filter, err = regexp.Compile(o.run); err != nil {
			return fail(1, fmt.Errorf("--run: %w", err))
		}
	}
	ctx := cmd.Context()
	cfg := o.config
	if cfg == "" {
		cfg = os.Getenv(configEnv)
	}
	var sess *builtins.Session
	if cfg != "" {
		eng, err := loadEngine(cmd, a, cfg)
		if err != nil {
			return fail(1, err)
		}
		// One environment for the run: builtin calls with the same
		// arguments are made once, whichever test makes them.
		sess = eng.NewSession(o.namespace)
		ctx = builtins.WithSession(ctx, sess)
	}

	regoResults, err := o.startRego(ctx, paths)
	if err != nil {
		return fail(1, err)
	}
	celFiles, err := findCELTests(paths)
	if err != nil {
		return fail(1, err)
	}
	cel := &celRun{cfg: cfg, filter: filter, timeout: o.timeout, opts: engine.Options{Logger: a.log}}

	all := make(chan *tester.Result)
	go func() {
		defer close(all)
		for r := range regoResults {
			all <- r
		}
		for _, f := range celFiles {
			cel.run(ctx, f, all)
		}
	}()

	// Count as opa test does while the reporter streams.
	ran, failed := 0, false
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range all {
			ran++
			failed = failed || !r.Pass()
			r.Trace = o.filterTrace(r.Trace)
			counted <- r
		}
	}()
	var reporter tester.Reporter = tester.PrettyReporter{Verbose: o.verbose, Output: a.stdout}
	if o.format == "json" {
		reporter = tester.JSONReporter{Output: a.stdout}
	}
	if err := reporter.Report(counted); err != nil {
		return fail(1, err)
	}
	if ran == 0 {
		return fail(1, fmt.Errorf("no tests were run: no test_ rule or *_test.yaml case in %s matches", strings.Join(paths, ", ")))
	}
	if failed {
		switch {
		case o.format != "pretty":
		case sess != nil:
			printBuiltinErrors(a, sess)
		default:
			fmt.Fprintln(a.stderr, "no resources given (-c or $"+configEnv+"): builtins that were not mocked could not run, and were undefined")
		}
		return fail(2, errReported)
	}
	return nil
}

// startRego loads and compiles the Rego modules and data in paths and
// starts their tests. YAML files are left to the CEL runner.
func (o *policyTestOpts) startRego(ctx context.Context, paths []string) (<-chan *tester.Result, error) {
	opa.Register()
	skipYAML := func(_ string, info fs.FileInfo, _ int) bool {
		ext := filepath.Ext(info.Name())
		return !info.IsDir() && (ext == ".yaml" || ext == ".yml")
	}
	modules, store, err := tester.LoadWithParserOptions(paths, skipYAML, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		return nil, err
	}
	out := make(chan *tester.Result)
	if len(modules) == 0 {
		close(out)
		return out, nil
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).
		WithEnablePrintStatements(true).
		// What the engine compiles policies with: a test of a policy that
		// calls http.send fails as the server would.
		WithCapabilities(opa.Capabilities()).
		WithUseTypeCheckAnnotations(true)
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		CapturePrintOutput(true).
		EnableTracing(o.verbose).
		StackTraces(true).
		SetModules(modules).
		SetTimeout(o.timeout).
		Filter(o.run).
		SetParallel(runtime.NumCPU())
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		store.Abort(ctx, txn)
		return nil, err
	}
	go func() {
		defer store.Abort(ctx, txn)
		defer close(out)
		for r := range ch {
			out <- r
		}
	}()
	return out, nil
}

// filterTrace keeps what opa test -v shows: notes and failures.
func (o *policyTestOpts) filterTrace(trace []*topdown.Event) []*topdown.Event {
	if !o.verbose {
		return nil
	}
	return lineage.Filter(trace, func(e *topdown.Event) bool { return e.Op == topdown.NoteOp || e.Op == topdown.FailOp })
}

// printBuiltinErrors says which builtin calls failed during a run with
// failures: in Rego such a call is undefined, so a test fails without
// saying why (a misspelt provider, an image missing from the fixtures).
func printBuiltinErrors(a *app, sess *builtins.Session) {
	seen := map[string]bool{}
	var lines []string
	for _, c := range sess.Calls() {
		if c.Error == "" || seen[c.Error] {
			continue
		}
		seen[c.Error] = true
		lines = append(lines, c.Name+": "+c.Error)
	}
	if len(lines) == 0 {
		return
	}
	sort.Strings(lines)
	fmt.Fprintln(a.stderr, "builtin calls that failed (their result was undefined):")
	for _, l := range lines {
		fmt.Fprintln(a.stderr, "  "+l)
	}
}
