package engine

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// A Policy's parameters are decoded as its type's: what each type needs is
// checked, and what it is given is used.
func TestFromSpecParameters(t *testing.T) {
	for _, c := range []struct {
		typ, params string
		want        string // error substring; "" builds
	}{
		{v1beta1.PolicyConfig, ``, ""},
		{v1beta1.PolicyConfig, `{"artifactVerificationPolicies": {"default": "Any"}}`, ""},
		{v1beta1.PolicyConfig, `{"artifactVerificationPolicies": {"default": "some"}}`, `artifactVerificationPolicies["default"] is "some"`},
		{v1beta1.PolicyRego, `{"policy": "package ratify.policy\nimport rego.v1\ndefault allow := false"}`, ""},
		{v1beta1.PolicyRego, `{}`, "spec.parameters.policy is required"},
		{v1beta1.PolicyRego, `{"policy": 1}`, "spec.parameters: json"},
		{v1beta1.PolicyRatifyRego, `{"policy": "package ratify.policy\nimport rego.v1\ndefault valid := false"}`, ""},
		{v1beta1.PolicyRatifyRego, `{"policyPath": "/p.rego"}`, "policyPath is not supported"},
		{v1beta1.PolicyCEL, `{"validations": [{"expression": "true", "message": "m"}]}`, ""},
		{v1beta1.PolicyCEL, `{"validations": []}`, "spec.parameters.validations is required"},
		{"opa", `{}`, "unknown policy type"},
	} {
		spec := &v1beta1.PolicySpec{Type: c.typ, Parameters: runtime.RawExtension{Raw: []byte(c.params)}}
		p, err := fromSpec(context.Background(), "Policy ratify-policy", "", spec, nil)
		if c.want == "" {
			if err != nil || p == nil {
				t.Errorf("%s %s: %v", c.typ, c.params, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "Policy ratify-policy: ") {
			t.Errorf("%s %s: %v, want an error containing %q", c.typ, c.params, err, c.want)
		}
	}
	p, err := fromSpec(context.Background(), "Policy ratify-policy", "", &v1beta1.PolicySpec{Type: v1beta1.PolicyCEL,
		Parameters: runtime.RawExtension{Raw: []byte(`{"validations": [{"expression": "subject != \"\"", "message": "no subject"}]}`)}}, nil)
	if err != nil || !strings.Contains(p.source, `"expression": "subject != \"\""`) || !strings.Contains(p.source, `"message": "no subject"`) {
		t.Errorf("cel source %q %v", p.source, err)
	}
}
