// Package library holds the Gatekeeper library shipped with ratify (the
// ConstraintTemplates, their sample constraints, the mutation sample and the
// Provider sample) and renders the Azure Policy definition that carries the
// default template to clusters with the Azure Policy add-on.
//
// The YAML files are the source of truth: they are applied verbatim with
// kubectl, and default/customazurepolicy.json is generated from them by
// `ratify library azure-policy` (make library), never edited by hand.
package library

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Paths of the library files, relative to this directory.
const (
	DefaultTemplate         = "default/template.yaml"
	DefaultConstraint       = "default/samples/constraint.yaml"
	MultiTenancyTemplate    = "multi-tenancy-validation/template.yaml"
	MultiTenancyConstraint  = "multi-tenancy-validation/samples/constraint.yaml"
	MutationAssign          = "default/mutation/assign-image-digest.yaml"
	Providers               = "provider/provider.yaml"
	AzurePolicyFile         = "default/customazurepolicy.json"
	azurePolicyRegenerateBy = "ratify library azure-policy -o library/" + AzurePolicyFile + " (make library)"
)

//go:embed default/template.yaml default/samples/constraint.yaml
//go:embed multi-tenancy-validation/template.yaml multi-tenancy-validation/samples/constraint.yaml
//go:embed default/mutation/assign-image-digest.yaml provider/provider.yaml
var files embed.FS

// File returns the library file at path (one of the path constants).
func File(path string) ([]byte, error) { return files.ReadFile(path) }

// RegenerateHint says how to rewrite the committed Azure Policy definition.
func RegenerateHint() string { return azurePolicyRegenerateBy }

// The Azure Policy definition, in the shape `az policy definition create`
// takes apart in the "Ratify on Azure" guide: top-level "parameters" and
// "policyRule" (the guide passes `jq .policyRule` and `jq .parameters`).
type azurePolicy struct {
	DisplayName string               `json:"displayName"`
	Description string               `json:"description"`
	Mode        string               `json:"mode"`
	Metadata    map[string]string    `json:"metadata"`
	Parameters  map[string]parameter `json:"parameters"`
	PolicyRule  policyRule           `json:"policyRule"`
}

type parameter struct {
	Type          string            `json:"type"`
	Metadata      parameterMetadata `json:"metadata"`
	AllowedValues []string          `json:"allowedValues,omitempty"`
	DefaultValue  any               `json:"defaultValue"`
}

type parameterMetadata struct {
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

type policyRule struct {
	If   map[string]any `json:"if"`
	Then policyThen     `json:"then"`
}

type policyThen struct {
	Effect  string        `json:"effect"`
	Details policyDetails `json:"details"`
}

// policyDetails are the details of an Azure Policy for Kubernetes effect:
// the constraint template inline (Base64Encoded needs no public URL) and the
// match of the constraint Azure Policy creates from it.
type policyDetails struct {
	TemplateInfo       templateInfo   `json:"templateInfo"`
	APIGroups          []string       `json:"apiGroups"`
	Kinds              []string       `json:"kinds"`
	Namespaces         string         `json:"namespaces"`
	ExcludedNamespaces string         `json:"excludedNamespaces"`
	Values             map[string]any `json:"values"`
}

type templateInfo struct {
	SourceType string `json:"sourceType"`
	Content    string `json:"content"`
}

// constraintMatch is what the generator reads from the sample constraint, so
// the definition matches the same objects the Gatekeeper sample does.
type constraintMatch struct {
	Spec struct {
		Match struct {
			Kinds []struct {
				APIGroups []string `json:"apiGroups"`
				Kinds     []string `json:"kinds"`
			} `json:"kinds"`
			ExcludedNamespaces []string `json:"excludedNamespaces"`
		} `json:"match"`
	} `json:"spec"`
}

// AzurePolicy renders the Azure Policy definition of the default template
// and sample constraint: the bytes of default/customazurepolicy.json.
func AzurePolicy() ([]byte, error) {
	template, err := files.ReadFile(DefaultTemplate)
	if err != nil {
		return nil, err
	}
	raw, err := files.ReadFile(DefaultConstraint)
	if err != nil {
		return nil, err
	}
	var c constraintMatch
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", DefaultConstraint, err)
	}
	// Azure Policy takes one list of groups and one of kinds.
	var groups, kinds []string
	for _, k := range c.Spec.Match.Kinds {
		groups = appendNew(groups, k.APIGroups...)
		kinds = appendNew(kinds, k.Kinds...)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("%s: spec.match.kinds names no kind", DefaultConstraint)
	}
	excluded := c.Spec.Match.ExcludedNamespaces
	if excluded == nil {
		excluded = []string{}
	}
	def := azurePolicy{
		DisplayName: "Ratify: only admit images whose signatures ratify verified",
		Description: "Denies Kubernetes Pods whose container, init container or ephemeral container images do not pass " +
			"ratify's signature verification. Requires the ratify external data provider (ratify-provider) in gatekeeper-system. " +
			"Generated from library/default/template.yaml; do not edit.",
		Mode:     "Microsoft.Kubernetes.Data",
		Metadata: map[string]string{"category": "Kubernetes", "version": "1.0.0"},
		Parameters: map[string]parameter{
			"effect": {
				Type: "String",
				Metadata: parameterMetadata{DisplayName: "Effect",
					Description: "'Deny' blocks Pods with unverified images, 'Audit' admits them and reports them as non-compliant, 'Disabled' turns the policy off."},
				AllowedValues: []string{"Deny", "Audit", "Disabled"},
				DefaultValue:  "Deny",
			},
			"excludedNamespaces": {
				Type: "Array",
				Metadata: parameterMetadata{DisplayName: "Namespace exclusions",
					Description: "Namespaces whose Pods are not checked. Keep the namespaces of the cluster's own components (kube-system, and gatekeeper-system where ratify runs)."},
				DefaultValue: excluded,
			},
			"namespaces": {
				Type: "Array",
				Metadata: parameterMetadata{DisplayName: "Namespace inclusions",
					Description: "When not empty, only Pods in these namespaces are checked."},
				DefaultValue: []string{},
			},
		},
		PolicyRule: policyRule{
			If: map[string]any{"field": "type", "in": []string{"Microsoft.ContainerService/managedClusters", "Microsoft.Kubernetes/connectedClusters"}},
			Then: policyThen{
				Effect: "[parameters('effect')]",
				Details: policyDetails{
					TemplateInfo:       templateInfo{SourceType: "Base64Encoded", Content: base64.StdEncoding.EncodeToString(template)},
					APIGroups:          groups,
					Kinds:              kinds,
					Namespaces:         "[parameters('namespaces')]",
					ExcludedNamespaces: "[parameters('excludedNamespaces')]",
					Values:             map[string]any{},
				},
			},
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the descriptions' quotes readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(def); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		seen := false
		for _, have := range list {
			seen = seen || have == it
		}
		if !seen {
			list = append(list, it)
		}
	}
	return list
}
