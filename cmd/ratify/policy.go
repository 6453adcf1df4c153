package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write, test and inspect ratify policies",
	}
	cmd.AddCommand(newPolicyShowCmd(a), newPolicyTestCmd(a), newPolicyEvalCmd(a),
		newPolicyCapabilitiesCmd(a), newPolicyBuiltinsCmd(a), newPolicyFixturesCmd(a))
	return cmd
}

func newPolicyShowCmd(a *app) *cobra.Command {
	var cfg, ns string
	cmd := &cobra.Command{
		Use:   "show -c RESOURCES",
		Short: "Print the policy in force: the Rego compiled from Verifiers, or the Policy given",
		Long: `show prints the policy that decides for a namespace: the Policy named
ratify-policy (Rego source or CEL validations) or, when the resources only
declare Verifiers (and perhaps a config-policy), the Rego policy they compile
to. It is an ordinary policy calling the verification builtins; copy it into a
Policy of type rego to customise it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := loadEngine(cmd, a, cfg)
			if err != nil {
				return err
			}
			src, from := eng.PolicySource(ns)
			fmt.Fprintf(a.stdout, "# policy in force: %s\n%s", from, src)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfg, "config", "c", "", "resources YAML")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace whose policy to show")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
