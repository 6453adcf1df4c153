package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

type verifyOpts struct {
	subject   string
	config    string
	output    string
	namespace string
}

func newVerifyCmd(a *app) *cobra.Command {
	o := &verifyOpts{}
	cmd := &cobra.Command{
		Use:   "verify -s IMAGE -c RESOURCES",
		Short: "Decide whether an image may run, and say why",
		Long: `verify evaluates the policy in force for an image, as the cluster would at
admission, and prints the verdict, the reports of every verification builtin the
policy called, and each signature's result with its reason.

The configuration is a YAML file of config.ratify.deislabs.io resources (Store,
KeyManagementProvider, Verifier, Policy, ...), the same YAML applied to a
cluster. Without a Policy named ratify-policy, the Verifiers are compiled into
the default policy (see ratify policy show).

Exit status: 0 allowed, 1 denied, 2 usage, configuration or transport error
(the verdict could not be reached; the reason is printed).`,
		Example: `  ratify verify -s myregistry.io/app:v1 -c resources.yaml
  ratify verify -s myregistry.io/app@sha256:... -c resources.yaml -n team-a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, a) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.subject, "subject", "s", "", "image reference")
	f.StringVarP(&o.config, "config", "c", "", "resources YAML (Store, KeyManagementProvider, Verifier, Policy, ...)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace the image is admitted to (selects namespaced policies and verifiers)")
	_ = cmd.MarkFlagRequired("subject")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// loadEngine reads a resources file and builds the engine.
func loadEngine(cmd *cobra.Command, a *app, path string) (*engine.Engine, error) {
	res, err := config.LoadFile(path)
	if err != nil {
		return nil, fail(exitError, err)
	}
	res.Warn(a.log)
	return buildEngine(cmd, a, res)
}

// buildEngine builds the engine of res and logs its warnings.
func buildEngine(cmd *cobra.Command, a *app, res *config.Resources) (*engine.Engine, error) {
	eng, err := engine.New(cmd.Context(), res, engine.Options{Logger: a.log})
	if err != nil {
		return nil, fail(exitError, err)
	}
	for _, w := range eng.Warnings() {
		a.log.Warn(w)
	}
	return eng, nil
}

func (o *verifyOpts) run(cmd *cobra.Command, a *app) error {
	if o.output != "text" && o.output != "json" {
		return fail(exitError, fmt.Errorf("--output %q: want text or json", o.output))
	}
	if _, err := oras.ParseReference(o.subject); err != nil {
		return fail(exitError, err)
	}
	eng, err := loadEngine(cmd, a, o.config)
	if err != nil {
		return err
	}
	d := eng.Evaluate(cmd.Context(), o.subject, o.namespace)
	if o.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return fail(exitError, err)
		}
	} else {
		printDecision(a.stdout, d)
	}
	return decisionExit(o.subject, d)
}

var errDenied = fmt.Errorf("denied")

// decisionExit is the exit of a command that reached a decision: 0
// allowed, 1 denied, 2 when an outage kept it from a verdict.
func decisionExit(subject string, d engine.Decision) error {
	switch {
	case d.Allow:
		return nil
	case d.Transient:
		return fail(exitError, fmt.Errorf("no verdict for %s: %s", subject, strings.Join(d.Reasons, "; ")))
	default:
		return &exitErr{code: exitNegative, err: errDenied}
	}
}

func printDecision(w io.Writer, d engine.Decision) {
	verdict := "DENIED"
	if d.Allow {
		verdict = "ALLOWED"
	}
	ref := d.Reference
	if ref == "" {
		ref = d.Subject
	}
	fmt.Fprintf(w, "%s %s\n", verdict, ref)
	fmt.Fprintf(w, "  policy: %s (trace %s)\n", d.Policy, d.TraceID)
	if len(d.Reasons) > 0 {
		fmt.Fprintln(w, "  reasons:")
		for _, r := range d.Reasons {
			fmt.Fprintf(w, "    - %s\n", r)
		}
	}
	for _, r := range d.Reports {
		fmt.Fprintf(w, "  %s: %s: %s\n", r.Verifier, okFail(r.IsSuccess), r.Message)
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
		for _, s := range r.Signatures {
			line := fmt.Sprintf("    %s %s %s", okFail(s.IsSuccess), s.Digest, s.ArtifactType)
			if s.Signer != "" {
				line += " signer=" + s.Signer
			}
			if s.Error != "" {
				line += ": " + s.Error
			}
			fmt.Fprintln(w, line)
		}
	}
}

func okFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}
