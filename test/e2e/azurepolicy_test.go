package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// azurePolicyConstraint is the ConstraintTemplate and the constraint the
// Azure Policy add-on creates in the cluster when the guide's
// customazurepolicy.json is assigned with its default parameters: the
// template carried in templateInfo (Base64Encoded), and a constraint of
// its kind matching the definition's kinds and excluded namespaces, with
// enforcementAction deny (effect Deny).
func azurePolicyConstraint(t testing.TB) (template, constraint string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "library", "default", "customazurepolicy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		Parameters map[string]struct {
			DefaultValue any `json:"defaultValue"`
		} `json:"parameters"`
		PolicyRule struct {
			Then struct {
				Effect  string `json:"effect"`
				Details struct {
					TemplateInfo struct {
						SourceType, Content string
					} `json:"templateInfo"`
					APIGroups          []string `json:"apiGroups"`
					Kinds              []string `json:"kinds"`
					ExcludedNamespaces string   `json:"excludedNamespaces"`
				} `json:"details"`
			} `json:"then"`
		} `json:"policyRule"`
	}
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	d := def.PolicyRule.Then.Details
	if d.TemplateInfo.SourceType != "Base64Encoded" {
		t.Fatalf("templateInfo.sourceType %q", d.TemplateInfo.SourceType)
	}
	tmpl, err := base64.StdEncoding.DecodeString(d.TemplateInfo.Content)
	if err != nil {
		t.Fatal(err)
	}
	var kind struct {
		Spec struct {
			CRD struct {
				Spec struct {
					Names struct{ Kind string } `json:"names"`
				} `json:"spec"`
			} `json:"crd"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(tmpl, &kind); err != nil {
		t.Fatal(err)
	}
	param := func(ref string) any {
		name := strings.TrimSuffix(strings.TrimPrefix(ref, "[parameters('"), "')]")
		p, ok := def.Parameters[name]
		if !ok {
			t.Fatalf("the definition refers to parameter %s, which it does not declare", name)
		}
		return p.DefaultValue
	}
	if effect := param(def.PolicyRule.Then.Effect); effect != "Deny" {
		t.Fatalf("default effect %v, want Deny", effect)
	}
	c := map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1",
		"kind":       kind.Spec.CRD.Spec.Names.Kind,
		"metadata":   map[string]any{"name": "azurepolicy-ratify-default-custom-policy"},
		"spec": map[string]any{
			"enforcementAction": "deny",
			"match": map[string]any{
				"kinds":              []map[string]any{{"apiGroups": d.APIGroups, "kinds": d.Kinds}},
				"excludedNamespaces": param(d.ExcludedNamespaces),
			},
		},
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(tmpl), string(out)
}

// TestAzurePolicyAddon is the guide's other path: ratify installed with
// provider.enableMutation=false for the Azure Policy add-on, and the
// policy of library/default/customazurepolicy.json in force (the template
// and constraint the add-on creates from it). Images are admitted or
// refused as on the Gatekeeper path; tags are not pinned to digests.
func TestAzurePolicyAddon(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	g := &guide{t: t}
	var s *stack
	g.step("control plane, Gatekeeper (the add-on's), simulated Azure", func() { s = newStack(t) })
	v := vars{"TENANT_ID": tenant, "IDENTITY_CLIENT_ID": clientID, "CLIENT_ID": clientID, "AKV_NAME": akvName}
	g.step("helm install ratify --set provider.enableMutation=false --set featureFlags.RATIFY_CERT_ROTATION=true --set azureWorkloadIdentity.clientId", func() {
		s.install(t, "install", "provider.enableMutation=false", "featureFlags.RATIFY_CERT_ROTATION=true", "azureWorkloadIdentity.clientId="+clientID)
		for _, absent := range []string{"providers.externaldata.gatekeeper.sh/ratify-mutation-provider", "assign.mutations.gatekeeper.sh"} {
			if out, _ := s.c.TryKubectl("get", absent, "-o", "name", "--ignore-not-found"); strings.TrimSpace(out) != "" {
				t.Errorf("mutation off, yet %s exists", out)
			}
		}
	})
	g.step("ratify runs as the chart's Deployment; the Provider's caBundle is its CA", func() {
		s.start(t)
		s.waitCABundle(t, "")
		s.gk.WaitProvider(t, "ratify-provider")
	})
	var im guideImages
	g.step("images pushed; net-monitor signed with notation and cosign, net-watcher not", func() { im = pushGuideImages(t, s, v) })
	g.step("the policy definition customazurepolicy.json assigned: its template and constraint in force", func() {
		tmpl, constraint := azurePolicyConstraint(t)
		s.gk.InstallTemplate(t, tmpl, constraint, func() error {
			if _, err := s.c.TryKubectl("run", "probe", "--namespace", "default", "--image="+im.unsigned, "--dry-run=server"); err == nil {
				return fmt.Errorf("an unsigned image is not refused yet")
			}
			return nil
		})
	})
	g.step("kubectl apply the guide's Store, KeyManagementProvider and Verifiers", func() { applyGuideResources(t, s, v) })
	g.step("kubectl get store, keymanagementprovider, verifier: ISSUCCESS true for each", func() { waitGuideResources(t, s) })
	g.step("kubectl run demo-signed --image=$IMAGE_SIGNED: created, its image as written", func() {
		for _, image := range []string{im.notation, im.cosign} {
			if got := s.wantAdmitted(t, "demo-signed", image); got != image {
				t.Errorf("without mutation the pod runs %q, want %q as written", got, image)
			}
		}
	})
	g.step("kubectl run demo-unsigned --image=$IMAGE_UNSIGNED: refused, naming the image", func() {
		s.wantRefused(t, "demo-unsigned", im.unsigned, "no signatures")
	})
}
