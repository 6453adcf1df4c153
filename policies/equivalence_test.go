package policies_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// compiledDefaultAgrees: notation-or-cosign is the compiled default written
// by hand. On every fixture image, the policy ratify compiles from the
// fixtures' notation and cosign Verifiers and the shipped policy, with its
// settings edited to match each config-policy, decide the same.
func compiledDefaultAgrees(t *testing.T, w *world) {
	images := w.images(t)
	resources, err := os.ReadFile(w.res)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("notation-or-cosign/notation_or_cosign.rego")
	if err != nil {
		t.Fatal(err)
	}
	const (
		notationType = "application/vnd.cncf.notary.signature"
		cosignType   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	)
	for _, c := range []struct {
		name string
		// artifactVerificationPolicies of the config-policy; nil for none.
		modes map[string]string
		// settings of the shipped policy that say the same: old → new.
		settings map[string]string
	}{
		{name: "no config-policy"},
		{name: "default any", modes: map[string]string{"default": "any"}, settings: map[string]string{
			`notation_type: "all",`: `notation_type: "any",`,
			`cosign_type: "all",`:   `cosign_type: "any",`,
		}},
		{name: "notation any, listed", modes: map[string]string{notationType: "any"}, settings: map[string]string{
			`notation_type: "all",`: `notation_type: "any",`,
			`required := set()`:     `required := {notation_type}`,
		}},
		{name: "both all, listed", modes: map[string]string{notationType: "all", cosignType: "all"}, settings: map[string]string{
			`required := set()`: `required := {notation_type, cosign_type}`,
		}},
		{name: "cosign any, notation default", modes: map[string]string{"default": "all", cosignType: "any"}, settings: map[string]string{
			`cosign_type: "all",`: `cosign_type: "any",`,
			`required := set()`:   `required := {cosign_type}`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			compiled := newEngine(t, string(resources), configPolicyDoc(c.modes))
			hand := newEngine(t, string(resources), regoPolicyDoc(t, string(shipped), c.settings))
			allowed := 0
			for _, img := range images {
				want := compiled.Evaluate(context.Background(), img, "")
				got := hand.Evaluate(context.Background(), img, "")
				if got.Allow != want.Allow {
					t.Errorf("%s: the compiled default allows %v (%q), notation-or-cosign %v (%q)", img, want.Allow, want.Reasons, got.Allow, got.Reasons)
				}
				if want.Allow {
					allowed++
				}
			}
			// Both verdicts occur, so agreeing means something.
			if allowed == 0 || allowed == len(images) {
				t.Errorf("the compiled default allows %d of %d images", allowed, len(images))
			}
		})
	}
}

func newEngine(t *testing.T, resources, policy string) *engine.Engine {
	t.Helper()
	res, err := config.Load(strings.NewReader(resources + "\n---\n" + policy))
	if err != nil {
		t.Fatal(err)
	}
	// No decision cache: each image is decided by the policy in force.
	eng, err := engine.New(context.Background(), res, engine.Options{DecisionCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// configPolicyDoc is the Policy in force that keeps the compiled default,
// with a config-policy's modes.
func configPolicyDoc(modes map[string]string) string {
	params, _ := json.Marshal(map[string]any{"artifactVerificationPolicies": modes})
	if modes == nil {
		params = []byte("{}")
	}
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: config-policy
  parameters: %s
`, params)
}

// regoPolicyDoc is the Policy in force with the shipped policy's source,
// its settings edited, in package ratify.policy.
func regoPolicyDoc(t *testing.T, src string, settings map[string]string) string {
	t.Helper()
	for old, new := range settings {
		if strings.Count(src, old) != 1 {
			t.Fatalf("notation-or-cosign has no setting %q (once) to change", old)
		}
		src = strings.Replace(src, old, new, 1)
	}
	const pkg = "package ratify.policies.notation_or_cosign\n"
	if !strings.Contains(src, pkg) {
		t.Fatalf("notation-or-cosign is not %q", pkg)
	}
	src = strings.Replace(src, pkg, "package ratify.policy\n", 1)
	q, _ := json.Marshal(src)
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: rego
  parameters:
    policy: %s
`, q)
}
