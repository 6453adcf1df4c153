package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/engine/opa"
)

func newPolicyCapabilitiesCmd(a *app) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "capabilities [-o FILE]",
		Short: "Write OPA capabilities that include ratify's builtins, for opa check, Regal and editors",
		Long: `capabilities writes the capabilities ratify compiles policies with, as the
JSON that OPA tools read: those of the OPA ratify embeds (its builtins,
keywords and features) with ratify's builtins and their types, and without
the builtins that would reach the network or the process environment
(http.send, net.*, opa.runtime, json.match_schema, json.verify_schema),
which ratify policies cannot call. Tools without ratify then accept ratify
policies, type-check their calls, and reject what ratify rejects:

  ratify policy capabilities -o ratify-capabilities.json
  opa check --capabilities ratify-capabilities.json policies/
  regal lint --capabilities ... (or capabilities.from.file in .regal/config.yaml)

Editor plugins that run opa check take the same file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := capabilitiesJSON()
			if err != nil {
				return fail(exitError, err)
			}
			if file == "" {
				_, err = a.stdout.Write(b)
			} else {
				err = os.WriteFile(file, b, 0o644)
			}
			if err != nil {
				return fail(exitError, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// capabilitiesJSON is opa.Capabilities, what the engine compiles policies
// with, in the format of `opa capabilities --current`.
func capabilitiesJSON() ([]byte, error) {
	caps := opa.Capabilities()
	// allow_net is written even when empty: an empty list allows no host,
	// a missing one every host (ast.Capabilities omits it when empty).
	b, err := json.MarshalIndent(struct {
		*ast.Capabilities
		AllowNet []string `json:"allow_net"`
	}{caps, caps.AllowNet}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func newPolicyBuiltinsCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "builtins [-o markdown|json]",
		Short: "Print the reference of the verification builtins",
		Long: `builtins prints the reference of the functions policies call (names,
arguments, results), generated from the declarations ratify registers in Rego
and CEL, so it cannot drift from what the engine accepts. The reference in
docs/builtins.md is this output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "markdown":
				writeBuiltinsMarkdown(a.stdout)
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(builtinsJSON())
			default:
				return fail(exitError, fmt.Errorf("--output %q: want markdown or json", output))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "markdown", "markdown or json")
	return cmd
}

// writeBuiltinsMarkdown writes one section per builtin, in table order.
func writeBuiltinsMarkdown(w io.Writer) {
	fmt.Fprintln(w, "The same functions, with the same arguments and results, in Rego and CEL.")
	fmt.Fprintln(w, "Verification functions return a report and record it on the decision; the")
	fmt.Fprintln(w, "others fail (undefined in Rego, an error in CEL) when they cannot run.")
	for _, f := range builtins.Table {
		names := make([]string, len(f.Args))
		for i, a := range f.Args {
			names[i] = a.Name
		}
		fmt.Fprintf(w, "\n#### `%s(%s)` → %s\n\n", f.Name, strings.Join(names, ", "), f.Result)
		fmt.Fprintln(w, f.Description)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| argument | type | meaning |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, a := range f.Args {
			fmt.Fprintf(w, "| `%s` | %s | %s |\n", a.Name, a.Type, strings.ReplaceAll(a.Description, "|", `\|`))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Result: %s.", f.ResultDescription)
		if f.Verifies {
			fmt.Fprint(w, " Recorded on the decision.")
		}
		if f.SubjectArg >= 0 {
			fmt.Fprintf(w, " Cached across decisions when `%s` is pinned to a digest.", f.Args[f.SubjectArg].Name)
		} else {
			fmt.Fprint(w, " Cached across decisions until the configuration changes.")
		}
		fmt.Fprintln(w)
	}
}

type builtinDoc struct {
	Name              string        `json:"name"`
	Family            string        `json:"family"`
	Description       string        `json:"description"`
	Args              []argDoc      `json:"args"`
	Result            builtins.Type `json:"result"`
	ResultDescription string        `json:"resultDescription"`
	Verifies          bool          `json:"verifies,omitempty"`
}

type argDoc struct {
	Name        string        `json:"name"`
	Type        builtins.Type `json:"type"`
	Description string        `json:"description"`
}

func builtinsJSON() []builtinDoc {
	out := make([]builtinDoc, 0, len(builtins.Table))
	for _, f := range builtins.Table {
		args := make([]argDoc, len(f.Args))
		for i, a := range f.Args {
			args[i] = argDoc{a.Name, a.Type, a.Description}
		}
		out = append(out, builtinDoc{Name: f.Name, Family: f.Family, Description: f.Description, Args: args,
			Result: f.Result, ResultDescription: f.ResultDescription, Verifies: f.Verifies})
	}
	return out
}
