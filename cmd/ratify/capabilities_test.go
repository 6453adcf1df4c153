package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/seed-12b584bc/ratify/builtins"
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

// TestReadmeBuiltinReference checks the README's reference against the
// declarations: regenerate it with `ratify policy builtins`.
func TestReadmeBuiltinReference(t *testing.T) {
	const begin, end = "<!-- ratify policy builtins: begin -->\n", "<!-- ratify policy builtins: end -->"
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", strings.TrimSpace(begin), end)
	}
	code, out, _ := runCLI(t, "policy", "builtins")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := s[i+len(begin) : j]; strings.TrimSpace(got) != strings.TrimSpace(out) {
		t.Fatalf("README.md's builtin reference is stale; replace it with the output of `ratify policy builtins`:\n%s", out)
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
