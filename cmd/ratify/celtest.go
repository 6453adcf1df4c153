package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	yaml "go.yaml.in/yaml/v3"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// A CEL test file (a name ending in _test.yaml or _test.yml) asserts the
// decisions of the policy in force, as `ratify verify` would reach them:
//
//	policy: per_registry_keys.cel.yaml   # optional
//	cases:
//	  - name: registry one, its own key
//	    subject: localhost:5001/app:cosign
//	    namespace: default               # optional
//	    allow: true
//	  - subject: localhost:5001/app:unsigned
//	    allow: false
//	    reason: no cosign key            # a substring of some reason
//
// policy names a resources YAML (relative to the test file) whose Policy
// and NamespacedPolicy resources replace those of -c; without it, the
// policies of -c decide. Stores and key management providers are always
// those of -c. The format is meant for CEL policies, which have no test
// language of their own, but any policy type works.
type celTestFile struct {
	Policy string    `yaml:"policy"`
	Cases  []celCase `yaml:"cases"`
}

type celCase struct {
	Name      string `yaml:"name"`
	Subject   string `yaml:"subject"`
	Namespace string `yaml:"namespace"`
	Allow     *bool  `yaml:"allow"`
	Reason    string `yaml:"reason"`

	line int
}

// isCELTest says whether path is a CEL test file by its name.
func isCELTest(path string) bool {
	base := filepath.Base(path)
	return strings.HasSuffix(base, "_test.yaml") || strings.HasSuffix(base, "_test.yml")
}

// findCELTests lists the CEL test files in paths (files or directories,
// searched recursively), in lexical order within each path.
func findCELTests(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isCELTest(path) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseCELTest reads a test file strictly (a misspelt field is an error)
// and remembers each case's line for the report.
func parseCELTest(path string) (*celTestFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f celTestFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err == nil && len(doc.Content) > 0 {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "cases" {
				for j, c := range root.Content[i+1].Content {
					if j < len(f.Cases) {
						f.Cases[j].line = c.Line
					}
				}
			}
		}
	}
	if len(f.Cases) == 0 {
		return nil, fmt.Errorf("%s: no cases", path)
	}
	for i, c := range f.Cases {
		if c.Subject == "" {
			return nil, fmt.Errorf("%s:%d: case %d has no subject", path, c.line, i+1)
		}
		if c.Allow == nil {
			return nil, fmt.Errorf("%s:%d: case %d says neither allow: true nor allow: false", path, c.line, i+1)
		}
	}
	return &f, nil
}

// celRun runs CEL test files against the resources in cfg.
type celRun struct {
	cfg     string // resources YAML
	filter  *regexp.Regexp
	timeout time.Duration
	opts    engine.Options
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// names are the package and test name a case is reported under, in the
// shape of a Rego test's, so --run selects both kinds alike.
func celNames(path string, i int, c celCase) (pkg, name string) {
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	pkg = "cel." + strings.Trim(nonWord.ReplaceAllString(base, "_"), "_")
	name = fmt.Sprintf("case_%d", i+1)
	if c.Name != "" {
		name = "test_" + strings.Trim(nonWord.ReplaceAllString(strings.ToLower(c.Name), "_"), "_")
	}
	return pkg, name
}

// run evaluates every case of path and sends one result per case; a file
// that cannot be read or configured gives one erroneous result.
func (r *celRun) run(ctx context.Context, path string, out chan<- *tester.Result) {
	fileErr := func(err error) {
		pkg, _ := celNames(path, 0, celCase{})
		out <- &tester.Result{Location: &ast.Location{File: path, Row: 1, Col: 1}, Package: pkg, Name: "load", Error: err}
	}
	f, err := parseCELTest(path)
	if err != nil {
		fileErr(err)
		return
	}
	var selected []int
	for i, c := range f.Cases {
		pkg, name := celNames(path, i, c)
		if r.filter == nil || r.filter.MatchString(pkg+"."+name) {
			selected = append(selected, i)
		}
	}
	if len(selected) == 0 {
		return
	}
	if r.cfg == "" {
		fileErr(errors.New("CEL tests need resources: give -c FILE (or set " + configEnv + ")"))
		return
	}
	eng, err := r.engine(ctx, path, f.Policy)
	if err != nil {
		fileErr(err)
		return
	}
	for _, i := range selected {
		c := f.Cases[i]
		pkg, name := celNames(path, i, c)
		res := &tester.Result{Location: &ast.Location{File: path, Row: c.line, Col: 1}, Package: pkg, Name: name}
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		start := time.Now()
		d := eng.Evaluate(cctx, c.Subject, c.Namespace)
		res.Duration = time.Since(start)
		cancel()
		judge(res, c, d)
		out <- res
	}
}

// engine builds the engine for a file: -c's resources, with the Policy
// resources of the file's policy: when it names one.
func (r *celRun) engine(ctx context.Context, path, policy string) (*engine.Engine, error) {
	res, err := config.LoadFile(r.cfg)
	if err != nil {
		return nil, err
	}
	if policy != "" {
		pf := policy
		if !filepath.IsAbs(pf) {
			pf = filepath.Join(filepath.Dir(path), pf)
		}
		pres, err := config.LoadFile(pf)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if len(pres.Policies)+len(pres.NamespacedPolicies) == 0 {
			return nil, fmt.Errorf("policy: %s has no Policy or NamespacedPolicy resource", pf)
		}
		res.Policies, res.NamespacedPolicies = pres.Policies, pres.NamespacedPolicies
	}
	return engine.New(ctx, res, r.opts)
}

// judge compares a decision with the case. A decision that could not be
// reached (an outage) is an error, not a failure: the policy was not tested.
func judge(res *tester.Result, c celCase, d engine.Decision) {
	var out strings.Builder
	verdict := "denied"
	if d.Allow {
		verdict = "allowed"
	}
	fmt.Fprintf(&out, "%s %s by %s\n", verdict, c.Subject, d.Policy)
	for _, r := range d.Reasons {
		fmt.Fprintf(&out, "  reason: %s\n", r)
	}
	want := *c.Allow
	switch {
	case d.Transient:
		res.Error = fmt.Errorf("no verdict for %s: %s", c.Subject, strings.Join(d.Reasons, "; "))
	case d.Allow != want:
		res.Fail = true
		fmt.Fprintf(&out, "want allow: %v\n", want)
	case !want && c.Reason != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), c.Reason):
		res.Fail = true
		fmt.Fprintf(&out, "want a reason containing %q\n", c.Reason)
	}
	if res.Fail || res.Error != nil {
		res.Output = []byte(out.String())
	}
}
