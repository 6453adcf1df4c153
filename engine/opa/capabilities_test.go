package opa

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/seed-12b584bc/ratify/builtins"
)

// TestCapabilities: OPA's builtins and ratify's, less exactly the excluded
// ones, and no host for remote schema references.
func TestCapabilities(t *testing.T) {
	caps := Capabilities()
	have := map[string]bool{}
	for _, b := range caps.Builtins {
		have[b.Name] = true
	}
	var excluded []string
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if _, ok := Excluded(b.Name); ok {
			excluded = append(excluded, b.Name)
			if have[b.Name] {
				t.Errorf("%s is excluded but in the capabilities", b.Name)
			}
		} else if !have[b.Name] {
			t.Errorf("%s is missing", b.Name)
		}
	}
	t.Logf("excluded: %v", excluded)
	for _, n := range []string{"http.send", "net.lookup_ip_addr", "net.cidr_contains", "opa.runtime", "json.match_schema", "json.verify_schema"} {
		if have[n] {
			t.Errorf("%s is in the capabilities", n)
		}
	}
	for _, f := range builtins.Table {
		if !have[f.Name] {
			t.Errorf("ratify's %s is missing", f.Name)
		}
	}
	if caps.AllowNet == nil || len(caps.AllowNet) != 0 {
		t.Errorf("AllowNet %#v, want empty (no host)", caps.AllowNet)
	}
	// Each call is a new value: a caller's change is its own.
	caps.Builtins = nil
	if len(Capabilities().Builtins) == 0 {
		t.Error("Capabilities returned a shared value")
	}
}

func compileAllow(src string) (*Policy, error) {
	return Compile(context.Background(), map[string]string{"policy.rego": src}, Allow)
}

// TestCompileRejectsBuiltinsThatReachOutside: a tenant's policy cannot
// reach the network, the file system or the process environment; such a
// policy fails to compile, and the error names the builtin.
func TestCompileRejectsBuiltinsThatReachOutside(t *testing.T) {
	for name, call := range map[string]string{
		"http.send":          `http.send({"method": "get", "url": "http://169.254.169.254/latest/meta-data/"})`,
		"net.lookup_ip_addr": `net.lookup_ip_addr("metadata.google.internal")`,
		"net.cidr_contains":  `net.cidr_contains("10.0.0.0/8", "10.1.2.3")`,
		"opa.runtime":        `opa.runtime()`,
		"json.match_schema":  `json.match_schema({}, {"$ref": "http://169.254.169.254/schema.json"})`,
		"json.verify_schema": `json.verify_schema({"$ref": "file:///etc/hostname"})`,
	} {
		t.Run(name, func(t *testing.T) {
			src := "package ratify.policy\nallow if {\n\tx := " + call + "\n\tx != null\n}\n"
			_, err := compileAllow(src)
			if err == nil {
				t.Fatalf("a policy calling %s compiled", name)
			}
			for _, want := range []string{"undefined function " + name, name + " is not available to ratify policies"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
		})
	}
}

// TestCompileAcceptsOrdinaryBuiltins: OPA's pure builtins and every ratify
// builtin stay available.
func TestCompileAcceptsOrdinaryBuiltins(t *testing.T) {
	p, err := compileAllow(`package ratify.policy
allow if {
	sprintf("%s/%d", ["a", 1]) == "a/1"
	time.now_ns() > 0
	regex.match("^sha256:[0-9a-f]+$", "sha256:00ff")
	is_array(object.get({"certs": []}, "certs", null))
	not crypto.x509.parse_certificates("not a certificate")
}
`)
	if err != nil {
		t.Fatal(err)
	}
	allow, reasons, err := p.Eval(context.Background(), builtins.NewSession(builtins.Config{Revision: "rev"}), map[string]any{"reference": "x"})
	if err != nil || !allow {
		t.Fatalf("allow %v, reasons %v, err %v", allow, reasons, err)
	}

	var calls []string
	for _, f := range builtins.Table {
		args := make([]string, len(f.Args))
		for i, a := range f.Args {
			switch a.Type {
			case builtins.Object:
				args[i] = `{}`
			case builtins.Array:
				args[i] = `[]`
			default:
				args[i] = `"x"`
			}
		}
		calls = append(calls, "\tx"+string(rune('a'+len(calls)))+" := "+f.Name+"("+strings.Join(args, ", ")+")\n")
	}
	src := "package ratify.policy\nallow if {\n" + strings.Join(calls, "") + "}\n"
	if _, err := compileAllow(src); err != nil {
		t.Fatalf("ratify's builtins do not compile: %v\n%s", err, src)
	}
}

// TestHTTPSendNeverReachesTheServer evaluates every spelling of a request
// from policy that we know of, against a local server that counts what it
// receives: none compiles, and the server is never asked.
func TestHTTPSendNeverReachesTheServer(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"type": "object"}`))
	}))
	defer srv.Close()
	url := `"` + srv.URL + `/latest/meta-data"`

	for _, c := range []struct {
		name     string
		contract Contract
		src      string
	}{
		{"http.send", Allow, `package ratify.policy
allow if http.send({"method": "get", "url": ` + url + `}).status_code == 200`},
		{"ref with brackets", Allow, `package ratify.policy
allow if http["send"]({"method": "get", "url": ` + url + `}).status_code == 200`},
		{"Rego v0", Allow, `package ratify.policy
allow { http.send({"method": "get", "url": ` + url + `}).status_code == 200 }`},
		{"rego-policy contract", Valid, `package ratify.policy
valid { http.send({"method": "get", "url": ` + url + `}).status_code == 200 }`},
		{"a second module", Allow, ""},
		{"schema $ref", Allow, `package ratify.policy
allow if json.match_schema({}, {"$ref": ` + url + `})[0]`},
		{"schema $ref, verify", Allow, `package ratify.policy
allow if json.verify_schema({"$ref": ` + url + `})[0]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			modules := map[string]string{"policy.rego": c.src}
			if c.src == "" {
				modules = map[string]string{
					"policy.rego": "package ratify.policy\nimport data.lib\nallow if lib.fetch",
					"lib.rego":    "package lib\nfetch if http.send({\"method\": \"get\", \"url\": " + url + "}).status_code == 200",
				}
			}
			before := hits.Load()
			p, err := Compile(context.Background(), modules, c.contract)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				allow, _, evalErr := p.Eval(ctx, builtins.NewSession(builtins.Config{Revision: "rev"}), map[string]any{"reference": "x"})
				t.Errorf("compiled; evaluated to allow=%v, err=%v", allow, evalErr)
			} else if !strings.Contains(err.Error(), "not available to ratify policies") && !strings.Contains(err.Error(), "rego_parse_error") {
				t.Errorf("the error does not explain: %v", err)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the policy sent %d requests", n)
			}
		})
	}
}

// TestRegoStopsAtDeadline: an expensive policy stops at the request's
// deadline, with an error the engine recognizes as the deadline's.
func TestRegoStopsAtDeadline(t *testing.T) {
	for name, src := range map[string]string{
		"a huge range": `package ratify.policy
allow if count([x | some x in numbers.range(1, 100000000); x % 7 == 0]) > 0`,
		"nested iteration": `package ratify.policy
allow if count([1 | some a in numbers.range(1, 500); some b in numbers.range(1, 500); some c in numbers.range(1, 500); a+b+c > 0]) > 0`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := compileAllow(src)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, _, err := p.Eval(ctx, builtins.NewSession(builtins.Config{Revision: "rev"}), map[string]any{"reference": "x"})
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(1500 * time.Millisecond):
				t.Fatal("the evaluation did not stop within 1.5s of a 200ms deadline")
			}
			t.Logf("returned after %v: %v", time.Since(start), err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want an error wrapping context.DeadlineExceeded, got %v", err)
			}
		})
	}
}
