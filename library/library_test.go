package library

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
)

// The committed Azure Policy definition is generated: it must be what the
// generator writes from the committed template, byte for byte, or clusters
// on the Azure Policy path run an older template than the Gatekeeper path.
func TestAzurePolicyIsGenerated(t *testing.T) {
	want, err := AzurePolicy()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(AzurePolicyFile)
	if err != nil {
		t.Fatalf("%v: generate it with %s", err, RegenerateHint())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("library/%s differs from what the generator writes from %s and %s: run %s and commit the result",
			AzurePolicyFile, DefaultTemplate, DefaultConstraint, RegenerateHint())
	}
}

// The definition has the shape the "Ratify on Azure" guide feeds to
// `az policy definition create` (jq .policyRule, jq .parameters), and its
// template is the default template.
func TestAzurePolicyShape(t *testing.T) {
	raw, err := AzurePolicy()
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		Mode       string `json:"mode"`
		Parameters map[string]struct {
			Type          string   `json:"type"`
			AllowedValues []string `json:"allowedValues"`
			DefaultValue  any      `json:"defaultValue"`
		} `json:"parameters"`
		PolicyRule struct {
			Then struct {
				Effect  string `json:"effect"`
				Details struct {
					TemplateInfo struct {
						SourceType string `json:"sourceType"`
						Content    string `json:"content"`
					} `json:"templateInfo"`
					APIGroups          []string       `json:"apiGroups"`
					Kinds              []string       `json:"kinds"`
					Namespaces         string         `json:"namespaces"`
					ExcludedNamespaces string         `json:"excludedNamespaces"`
					Values             map[string]any `json:"values"`
				} `json:"details"`
			} `json:"then"`
		} `json:"policyRule"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	if def.Mode != "Microsoft.Kubernetes.Data" {
		t.Errorf("mode = %q", def.Mode)
	}
	effect := def.Parameters["effect"]
	if effect.Type != "String" || len(effect.AllowedValues) != 3 || effect.AllowedValues[0] != "Deny" ||
		effect.AllowedValues[1] != "Audit" || effect.AllowedValues[2] != "Disabled" || effect.DefaultValue != "Deny" {
		t.Errorf("effect parameter = %+v, want String Deny/Audit/Disabled defaulting to Deny", effect)
	}
	excluded, _ := def.Parameters["excludedNamespaces"].DefaultValue.([]any)
	if def.Parameters["excludedNamespaces"].Type != "Array" || len(excluded) != 2 || excluded[0] != "kube-system" || excluded[1] != "gatekeeper-system" {
		t.Errorf("excludedNamespaces parameter = %+v", def.Parameters["excludedNamespaces"])
	}
	then := def.PolicyRule.Then
	if then.Effect != "[parameters('effect')]" || then.Details.ExcludedNamespaces != "[parameters('excludedNamespaces')]" ||
		then.Details.Namespaces != "[parameters('namespaces')]" {
		t.Errorf("policyRule.then does not use the parameters: %+v", then)
	}
	if len(then.Details.Kinds) != 1 || then.Details.Kinds[0] != "Pod" || len(then.Details.APIGroups) != 1 || then.Details.APIGroups[0] != "" {
		t.Errorf("match = %q %q, want the core group's Pod", then.Details.APIGroups, then.Details.Kinds)
	}
	if then.Details.TemplateInfo.SourceType != "Base64Encoded" {
		t.Errorf("templateInfo.sourceType = %q", then.Details.TemplateInfo.SourceType)
	}
	template, err := base64.StdEncoding.DecodeString(then.Details.TemplateInfo.Content)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := File(DefaultTemplate); !bytes.Equal(template, want) {
		t.Error("templateInfo.content is not the base64 of default/template.yaml")
	}
}
