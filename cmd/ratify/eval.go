package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/opa"
)

type policyEvalOpts struct {
	subject, config, policy, namespace, output string
	explain                                    bool
}

func newPolicyEvalCmd(a *app) *cobra.Command {
	o := &policyEvalOpts{}
	cmd := &cobra.Command{
		Use:   "eval -s IMAGE -c RESOURCES [--policy FILE] [--explain]",
		Short: "Decide on one image with a policy, and show the builtin calls it made",
		Long: `eval reaches one decision as ratify verify does, optionally with another
policy than the one the resources put in force, and with --explain lists every
builtin call the policy made, in order: its arguments (PEM keys and
certificates abbreviated) and its result. A call answered from the memo or
cache of an earlier call is marked (cached).

--policy FILE decides instead of the resources' Policy resources:
  *.rego          a Rego policy; a package other than ratify.policy (such as
                  the library policies in policies/) is read as ratify.policy
  *.yaml, *.yml   resources whose Policy and NamespacedPolicy replace those of -c
With -n, a .rego policy is the NamespacedPolicy of that namespace (it sees the
namespace's key management providers).

Exit status, as ratify verify: 0 allowed, 1 denied, 2 usage, configuration or
transport error.`,
		Example: `  ratify policy eval -s localhost:5000/net-monitor:v1 -c resources.yaml --explain
  ratify policy eval -s localhost:5000/net-monitor:v1 -c resources.yaml --policy policies/both-required/both_required.rego
  ratify policy eval -s localhost:5000/net-monitor:v1 -c resources.yaml --policy cel-policy.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, a) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.subject, "subject", "s", "", "image reference")
	f.StringVarP(&o.config, "config", "c", "", "resources YAML (Store, KeyManagementProvider, Verifier, Policy, ...)")
	f.StringVar(&o.policy, "policy", "", "policy to decide with: a .rego file, or resources YAML with Policy resources")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace the image is admitted to")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&o.explain, "explain", false, "list the builtin calls, their arguments and results")
	_ = cmd.MarkFlagRequired("subject")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func (o *policyEvalOpts) run(cmd *cobra.Command, a *app) error {
	if o.output != "text" && o.output != "json" {
		return fail(exitError, fmt.Errorf("--output %q: want text or json", o.output))
	}
	if _, err := oras.ParseReference(o.subject); err != nil {
		return fail(exitError, err)
	}
	res, err := config.LoadFile(o.config)
	if err != nil {
		return fail(exitError, err)
	}
	res.Warn(a.log)
	if o.policy != "" {
		if err := replacePolicy(res, o.policy, o.namespace); err != nil {
			return fail(exitError, err)
		}
	}
	eng, err := buildEngine(cmd, a, res)
	if err != nil {
		return err
	}
	d := eng.Evaluate(cmd.Context(), o.subject, o.namespace)
	if o.output == "json" {
		out := struct {
			engine.Decision
			Calls []builtins.Call `json:"calls,omitempty"`
		}{Decision: d}
		if o.explain {
			out.Calls = d.Calls
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(exitError, err)
		}
	} else {
		printDecision(a.stdout, d)
		if o.explain {
			printCalls(a.stdout, d.Calls)
		}
	}
	return decisionExit(o.subject, d)
}

// replacePolicy puts the policy of file in force in res: for namespace
// when one is given, else cluster-wide.
func replacePolicy(res *config.Resources, file, namespace string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var pres *config.Resources
	switch filepath.Ext(file) {
	case ".yaml", ".yml":
		if pres, err = config.Load(strings.NewReader(string(b))); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(pres.Policies)+len(pres.NamespacedPolicies) == 0 {
			return fmt.Errorf("%s has no Policy or NamespacedPolicy resource", file)
		}
	case ".rego":
		src, err := asRatifyPolicy(file, string(b))
		if err != nil {
			return err
		}
		kind, meta := "Policy", fmt.Sprintf("{name: %s}", v1beta1.ClusterPolicyName)
		if namespace != "" {
			kind, meta = "NamespacedPolicy", fmt.Sprintf("{name: %s, namespace: %q}", v1beta1.ClusterPolicyName, namespace)
		}
		q, _ := json.Marshal(src)
		doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: %s\nspec:\n  type: %s\n  parameters:\n    policy: %s\n",
			v1beta1.APIVersion, kind, meta, v1beta1.PolicyRego, q)
		if pres, err = config.Load(strings.NewReader(doc)); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	default:
		return fmt.Errorf("--policy %s: want a .rego file or a resources .yaml", file)
	}
	res.Policies, res.NamespacedPolicies = pres.Policies, pres.NamespacedPolicies
	return nil
}

var packageLine = regexp.MustCompile(`(?m)^package\s+\S+`)

// asRatifyPolicy returns src with its package read as ratify.policy, the
// package the engine evaluates, so a library policy can be tried as is.
// References to the module's own package by full path follow the rename.
func asRatifyPolicy(file, src string) (string, error) {
	m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		var err0 error
		if m, err0 = ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV0}); err0 != nil {
			return "", err
		}
	}
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	if pkg == opa.Package {
		return src, nil
	}
	src = strings.ReplaceAll(src, "data."+pkg+".", "data."+opa.Package+".")
	done := false
	return packageLine.ReplaceAllStringFunc(src, func(s string) string {
		if done {
			return s
		}
		done = true
		return "package " + opa.Package
	}), nil
}

// printCalls lists builtin calls for --explain.
func printCalls(w io.Writer, calls []builtins.Call) {
	if len(calls) == 0 {
		fmt.Fprintln(w, "  builtin calls: none")
		return
	}
	fmt.Fprintln(w, "  builtin calls, in order:")
	for i, c := range calls {
		args := make([]string, len(c.Args))
		for j, arg := range c.Args {
			b, _ := json.Marshal(abbreviate(arg))
			args[j] = string(b)
		}
		cached := ""
		if c.Cached {
			cached = " (cached)"
		}
		fmt.Fprintf(w, "  %d. %s(%s)%s\n", i+1, c.Name, strings.Join(args, ", "), cached)
		if c.Error != "" {
			fmt.Fprintf(w, "     error: %s\n", c.Error)
			continue
		}
		b, _ := json.MarshalIndent(abbreviate(c.Result), "     ", "  ")
		fmt.Fprintf(w, "     => %s\n", b)
	}
}

// abbreviate shortens PEM text (keys and certificates) in a JSON-like
// value: a key is recognisable by its first line and size, and pages of
// base64 hide the arguments that matter.
func abbreviate(v any) any {
	switch v := v.(type) {
	case string:
		if i := strings.Index(v, "-----BEGIN "); i >= 0 {
			head := v[i:]
			if j := strings.Index(head[len("-----BEGIN "):], "-----"); j >= 0 {
				head = head[:len("-----BEGIN ")+j+5]
			}
			return fmt.Sprintf("%s...(%d bytes)", head, len(v))
		}
		return v
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = abbreviate(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = abbreviate(x)
		}
		return out
	}
	return v
}
