package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// TestCapabilities loads the written capabilities as OPA tools do and
// compiles a policy against them alone: the builtins and their types come
// from the file, not from this process's registrations.
func TestCapabilities(t *testing.T) {
	file := filepath.Join(t.TempDir(), "capabilities.json")
	if code, _, errOut := runCLI(t, "policy", "capabilities", "-o", file); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	caps, err := ast.LoadCapabilitiesJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*ast.Builtin{}
	for _, b := range caps.Builtins {
		byName[b.Name] = b
	}
	for _, fn := range builtins.Table {
		b := byName[fn.Name]
		if b == nil || b.Decl == nil || len(b.Decl.FuncArgs().Args) != len(fn.Args) {
			t.Errorf("%s: missing or mistyped in the capabilities: %+v", fn.Name, b)
		}
	}
	if byName["sprintf"] == nil {
		t.Error("OPA's own builtins are missing")
	}

	compile := func(caps *ast.Capabilities, src string) error {
		m, err := ast.ParseModuleWithOpts("p.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: caps})
		if err != nil {
			return err
		}
		c := ast.NewCompiler().WithCapabilities(caps)
		if c.Compile(map[string]*ast.Module{"p.rego": m}); c.Failed() {
			return c.Errors
		}
		return nil
	}
	good := `package ratify.policy
allow if notation.verify(input.reference, {"trustPolicy": {}, "trustStores": {"ca:certs": kmp.certificates("c")}}).isSuccess`
	if err := compile(caps, good); err != nil {
		t.Fatalf("a ratify policy does not compile with the capabilities: %v", err)
	}
	if err := compile(caps, `package p
x := cosign.verify("a", "not an object")`); err == nil || !strings.Contains(err.Error(), "rego_type_error") {
		t.Fatalf("a mistyped call compiled: %v", err)
	}
	// The same file without ratify's builtins, as plain OPA has it.
	plain := *caps
	plain.Builtins = nil
	for _, b := range caps.Builtins {
		if _, ok := builtins.Lookup(b.Name); !ok {
			plain.Builtins = append(plain.Builtins, b)
		}
	}
	if err := compile(&plain, good); err == nil {
		t.Fatal("the policy compiled without ratify's builtins")
	}

	// stdout is the same JSON.
	_, out, _ := runCLI(t, "policy", "capabilities")
	b, _ := os.ReadFile(file)
	if out != string(b) {
		t.Error("stdout and -o differ")
	}
}

// TestCapabilitiesExcludeOutsideBuiltins: the written capabilities are
// those the server compiles policies with, so the real opa CLI given them
// rejects a policy that calls http.send, as the server does, and accepts a
// ratify policy.
func TestCapabilitiesExcludeOutsideBuiltins(t *testing.T) {
	file := filepath.Join(t.TempDir(), "capabilities.json")
	if code, _, errOut := runCLI(t, "policy", "capabilities", "-o", file); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var caps struct {
		Builtins []struct {
			Name string `json:"name"`
		} `json:"builtins"`
		AllowNet *[]string `json:"allow_net"`
	}
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range caps.Builtins {
		names[b.Name] = true
		if strings.HasPrefix(b.Name, "net.") {
			t.Errorf("%s is in the capabilities", b.Name)
		}
	}
	for _, n := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "json.match_schema", "json.verify_schema"} {
		if names[n] {
			t.Errorf("%s is in the capabilities", n)
		}
	}
	for _, n := range []string{"sprintf", "time.now_ns", "regex.match", "crypto.x509.parse_certificates", "notation.verify", "kmp.keys"} {
		if !names[n] {
			t.Errorf("%s is missing from the capabilities", n)
		}
	}
	if caps.AllowNet == nil || len(*caps.AllowNet) != 0 {
		t.Errorf("allow_net is %v, want [] (no host)", caps.AllowNet)
	}

	opa := tools.Path(t, "opa")
	dir := writeFiles(t, map[string]string{
		"good/policy.rego": `package ratify.policy
allow if kmp.keys("k")[0].enabled
`,
		"bad/policy.rego": `package ratify.policy
allow if http.send({"method": "get", "url": "http://169.254.169.254/"}).status_code == 200
`,
	})
	check := func(path string) (int, string) {
		cmd := exec.Command(opa, "check", "--capabilities", file, path)
		return exitCode(t, cmd)
	}
	if code, out := check(filepath.Join(dir, "good")); code != 0 {
		t.Errorf("opa check rejects a ratify policy: exit %d\n%s", code, out)
	}
	if code, out := check(filepath.Join(dir, "bad")); code == 0 || !strings.Contains(out, "undefined function http.send") {
		t.Errorf("opa check accepts a policy calling http.send: exit %d\n%s", code, out)
	}
}

// TestPolicyTestUsesServerCapabilities: a policy test of a policy that
// calls http.send fails as the server would (the policy does not compile),
// and the request is never sent.
func TestPolicyTestUsesServerCapabilities(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := writeFiles(t, map[string]string{
		"policy.rego": `package ratify.policy
allow if http.send({"method": "get", "url": "` + srv.URL + `"}).status_code == 200
`,
		"policy_test.rego": `package ratify.policy_test
import data.ratify.policy
test_allowed if policy.allow
`,
	})
	code, out, errOut := runCLI(t, "policy", "test", dir)
	if code != 1 || !strings.Contains(out+errOut, "undefined function http.send") {
		t.Errorf("exit %d, want 1 and the compile error\n%s%s", code, out, errOut)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the policy test sent %d requests", n)
	}
}

// TestOpaCommandUsesServerCapabilities: OPA's commands under ratify opa
// reject a policy calling http.send, as the server does, and never send
// its request; --capabilities still chooses others.
func TestOpaCommandUsesServerCapabilities(t *testing.T) {
	ratify := buildRatify(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := writeFiles(t, map[string]string{
		"policy.rego": `package ratify.policy
allow if http.send({"method": "get", "url": "` + srv.URL + `"}).status_code == 200
`,
		"policy_test.rego": `package ratify.policy_test
import data.ratify.policy
test_allowed if policy.allow
`,
	})
	opa := func(args ...string) (int, string) {
		cmd := exec.Command(ratify, append([]string{"opa"}, args...)...)
		return exitCode(t, cmd)
	}
	for _, args := range [][]string{
		{"test", dir},
		{"check", dir},
		{"eval", "-d", dir, "data.ratify.policy.allow"},
	} {
		if code, out := opa(args...); code == 0 || !strings.Contains(out, "undefined function http.send") {
			t.Errorf("ratify opa %s: exit %d\n%s", args[0], code, out)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the policy sent %d requests", n)
	}
	// The capabilities of the OPA ratify embeds, as `opa capabilities --current` prints them.
	full := filepath.Join(t.TempDir(), "full.json")
	code, out := opa("capabilities", "--current")
	if code != 0 {
		t.Fatalf("capabilities: exit %d\n%s", code, out)
	}
	os.WriteFile(full, []byte(out), 0o600)
	if code, out := opa("check", "--capabilities", full, dir); code != 0 {
		t.Errorf("check --capabilities: exit %d\n%s", code, out)
	}
}

// TestBuiltinReferenceDoc checks the reference in docs/builtins.md against
// the declarations: regenerate it with `ratify policy builtins`.
func TestBuiltinReferenceDoc(t *testing.T) {
	const begin, end = "<!-- ratify policy builtins: begin -->\n", "<!-- ratify policy builtins: end -->"
	const page = "docs/builtins.md"
	doc, err := os.ReadFile(filepath.Join("..", "..", page))
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", page, strings.TrimSpace(begin), end)
	}
	code, out, _ := runCLI(t, "policy", "builtins")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := s[i+len(begin) : j]; strings.TrimSpace(got) != strings.TrimSpace(out) {
		t.Fatalf("%s's builtin reference is stale; replace it with the output of `ratify policy builtins`:\n%s", page, out)
	}
	for _, f := range builtins.Table {
		if !strings.Contains(out, "`"+f.Name+"(") {
			t.Errorf("%s is not in the reference", f.Name)
		}
	}

	_, out, _ = runCLI(t, "policy", "builtins", "-o", "json")
	var docs []struct {
		Name string `json:"name"`
		Args []struct {
			Name, Type string
		} `json:"args"`
	}
	if err := json.Unmarshal([]byte(out), &docs); err != nil || len(docs) != len(builtins.Table) || docs[0].Args[0].Type != "string" {
		t.Fatalf("json: %v\n%s", err, out)
	}
}
