package opa

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/internal/memreg"
)

// adapterWorld is one image with one attached artifact, in memory.
func adapterWorld(t *testing.T) (*memreg.Content, string, string) {
	t.Helper()
	c, img, err := memreg.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c, "registry.example/app@" + img.Digest.String(), img.Digest.String()
}

// TestAdapter: Rego reads builtin results as plain values, an error makes
// the call undefined (the rule fails closed) and is a failed report, and a
// verification function's report is an object the policy can inspect.
func TestAdapter(t *testing.T) {
	t.Parallel()
	c, ref, dig := adapterWorld(t)
	cases := []struct {
		name       string
		rules      string
		input      map[string]any
		wantAllow  bool
		wantReport string // verifier of the one report expected, "" for none
	}{
		{
			name:      "a result is a value",
			rules:     `allow if oras.resolve(input.reference).digest == input.digest`,
			input:     map[string]any{"reference": ref, "digest": dig},
			wantAllow: true,
		},
		{
			name: "an array of objects",
			rules: `allow if {
	some r in oras.referrers(input.reference, "")
	r.artifactType == "application/vnd.example.sbom"
	startswith(r.digest, "sha256:")
	is_object(r.annotations)
}`,
			input:     map[string]any{"reference": ref},
			wantAllow: true,
		},
		{
			name:       "an error is undefined, recorded as a failed report",
			rules:      `allow if count(oras.referrers("registry.example/app:missing", "")) >= 0`,
			input:      map[string]any{"reference": ref},
			wantReport: "oras.referrers",
		},
		{
			name:       "not is true of an undefined call: policies must test results",
			rules:      `allow if not oras.resolve("registry.example/app:missing")`,
			input:      map[string]any{"reference": ref},
			wantAllow:  true,
			wantReport: "oras.resolve",
		},
		{
			name: "a report is an object",
			rules: `allow if {
	r := cosign.verify(input.reference, {"keys": []})
	r.isSuccess == false
	r.verifier == "cosign"
	r.subject == input.reference
	contains(r.message, "no keys")
	is_array(r.signatures)
}`,
			input:      map[string]any{"reference": ref},
			wantAllow:  true,
			wantReport: "cosign",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(context.Background(), map[string]string{"p.rego": "package ratify.policy\nimport rego.v1\n" + tc.rules}, Allow)
			if err != nil {
				t.Fatal(err)
			}
			sess := builtins.NewSession(builtins.Config{Content: c, Revision: "r"})
			allow, reasons, err := p.Eval(context.Background(), sess, tc.input)
			if err != nil || allow != tc.wantAllow {
				t.Fatalf("allow %v (want %v), reasons %v, err %v", allow, tc.wantAllow, reasons, err)
			}
			memreg.CheckReports(t, sess.Reports(), tc.wantReport)
		})
	}
}

// TestAdapterWithoutSession: a builtin called outside ratify says how to
// run it.
func TestAdapterWithoutSession(t *testing.T) {
	t.Parallel()
	f, _ := builtins.Lookup("oras.resolve")
	_, err := impl(f)(rego.BuiltinContext{Context: context.Background()}, []*ast.Term{ast.StringTerm("registry.example/app:v1")})
	if err == nil || !strings.Contains(err.Error(), "no ratify configuration") {
		t.Fatalf("error %v", err)
	}
}
