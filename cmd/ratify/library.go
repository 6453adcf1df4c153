package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/library"
)

func newLibraryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "library",
		Short: "Generate files of the Gatekeeper library (library/)",
		Long: `library writes the files of ratify's Gatekeeper library that are generated
from its ConstraintTemplates rather than written by hand.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newLibraryAzurePolicyCmd(a))
	return cmd
}

func newLibraryAzurePolicyCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "azure-policy [-o FILE]",
		Short: "Write the Azure Policy definition of the default constraint template",
		Long: `azure-policy writes library/default/customazurepolicy.json: an Azure Policy
definition (mode Microsoft.Kubernetes.Data) for clusters with the Azure Policy
add-on. It carries library/default/template.yaml inline (templateInfo
sourceType Base64Encoded, so no public URL is needed), matches the kinds of
library/default/samples/constraint.yaml, and has the parameters effect
(Deny, Audit or Disabled), excludedNamespaces and namespaces.

Create and assign it as the "Ratify on Azure" guide does:
  az policy definition create --name ratify-default-custom-policy \
    --rules "$(jq .policyRule customazurepolicy.json)" \
    --params "$(jq .parameters customazurepolicy.json)" \
    --mode Microsoft.Kubernetes.Data`,
		Example: `  ratify library azure-policy -o library/default/customazurepolicy.json
  ratify library azure-policy | jq .policyRule`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			def, err := library.AzurePolicy()
			if err != nil {
				return fail(exitError, err)
			}
			if output == "" || output == "-" {
				_, err = a.stdout.Write(def)
				return err
			}
			if err := os.WriteFile(output, def, 0o644); err != nil {
				return fail(exitError, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of stdout")
	return cmd
}
