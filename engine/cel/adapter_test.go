package cel

import (
	"context"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/internal/memreg"
)

// TestAdapter: CEL reads builtin results as maps and lists, a failing call
// fails its validation with the call's error as the reason (and a failed
// report), and reports are maps the policy can inspect.
func TestAdapter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, img, err := memreg.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := "registry.example/app@" + img.Digest.String()
	input := map[string]any{"subject": ref, "reference": ref, "digest": img.Digest.String(), "namespace": ""}
	cases := []struct {
		name       string
		expr       string
		wantAllow  bool
		wantReport string
	}{
		{"a result is a map", `oras.resolve(reference).digest == digest`, true, ""},
		{"a list of maps", `oras.referrers(reference, "").exists(r, r.artifactType == "application/vnd.example.sbom" && r.digest.startsWith("sha256:"))`, true, ""},
		{"an error fails the validation", `size(oras.referrers("registry.example/app:missing", "")) >= 0`, false, "oras.referrers"},
		{"a report is a map", `!cosign.verify(reference, {"keys": []}).isSuccess && cosign.verify(reference, {"keys": []}).verifier == "cosign"`, true, "cosign"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile([]Validation{{Expression: tc.expr, Message: "denied"}})
			if err != nil {
				t.Fatal(err)
			}
			sess := builtins.NewSession(builtins.Config{Content: c, Revision: "r"})
			allow, reasons, err := p.Eval(ctx, sess, input)
			if err != nil || allow != tc.wantAllow || !allow && len(reasons) == 0 {
				t.Fatalf("allow %v (want %v), reasons %v, err %v", allow, tc.wantAllow, reasons, err)
			}
			memreg.CheckReports(t, sess.Reports(), tc.wantReport)
		})
	}
}
