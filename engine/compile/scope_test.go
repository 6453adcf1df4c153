package compile_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine/compile"
)

const testDigest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// scopeCases: does a trust-policy or store scope cover an image, whatever
// the spelling of the registry host on either side.
var scopeCases = []struct {
	scope, image string
	want         bool
}{
	{"localhost:5000/team-a/*", "LOCALHOST:5000/team-a/app:v1", true},
	{"LOCALHOST:5000/team-a/*", "localhost:5000/team-a/app:v1", true},
	{"localhost:5000/team-a/app", "LocalHost:5000/team-a/app", true},
	{"registry.example.com/app", "registry.example.com:443/app:v1", true},
	{"registry.example.com:443/app", "registry.example.com/app:v1", true},
	{"Registry.Example.com:443/team/*", "REGISTRY.example.com/team/app", true},
	{"docker.io/library/nginx", "nginx", true},
	{"docker.io/nginx", "index.docker.io/library/nginx:1.27", true},
	{"index.docker.io/library/nginx", "registry-1.docker.io/library/nginx", true},
	{"registry-1.docker.io/user/*", "docker.io/user/app", true},
	{"docker.io/user/*", "user/app", true},
	{"docker.io/*", "alpine", true},
	{"registry.example.com:5000/app", "registry.example.com/app", false},
	{"registry.example.com/app", "registry.example.com:5000/app", false},
	{"registry.example.com/app", "registry.example.com:4443/app", false},
	{"registry.example.com/team/*", "registry.example.com/team-b/app", false},
	{"registry.example.com/team/*", "registry.example.com/team", false},
	{"registry.example.com/team*", "registry.example.com/team-b/app", true},
	{"registry.example.com/app", "registry.example.com/app2", false},
	{"registry.example.com/app*", "registry.example.com/app2", true},
	{"myregistry.io/*", "myregistry.io.evil.com/app", false},
	{"myregistry.io*", "myregistry.io.evil.com/app", true}, // hence the warning
	{"localhost:5000/app", "127.0.0.1:5000/app", false},
	{"quay.io/app", "docker.io/app", false},
}

// stubs declare the ratify builtins the generated module calls; only
// scope selection is evaluated here.
func stubs() []func(*rego.Rego) {
	obj := types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))
	arr := types.NewArray(nil, types.A)
	return []func(*rego.Rego){
		rego.Function1(&rego.Function{Name: "kmp.keys", Decl: types.NewFunction(types.Args(types.S), arr)},
			func(rego.BuiltinContext, *ast.Term) (*ast.Term, error) { return ast.ArrayTerm(), nil }),
		rego.Function2(&rego.Function{Name: "oras.referrers", Decl: types.NewFunction(types.Args(types.S, types.S), arr)},
			func(rego.BuiltinContext, *ast.Term, *ast.Term) (*ast.Term, error) { return ast.ArrayTerm(), nil }),
		rego.Function2(&rego.Function{Name: "cosign.verify", Decl: types.NewFunction(types.Args(types.S, obj), obj)},
			func(rego.BuiltinContext, *ast.Term, *ast.Term) (*ast.Term, error) { return ast.ObjectTerm(), nil }),
	}
}

// cosignModule compiles a cosign Verifier with a trust policy "specific"
// (index 0) for scope and a `*` fallback (index 1).
func cosignModule(t *testing.T, scope string) string {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"trustPolicies": []any{
		map[string]any{"name": "specific", "scopes": []string{scope}, "keys": []any{map[string]any{"provider": "keys"}}},
		map[string]any{"name": "fallback", "scopes": []string{"*"}, "keys": []any{map[string]any{"provider": "keys"}}},
	}})
	mod, err := compile.Rego(compile.Input{Verifiers: []compile.Verifier{{
		Name: "cosign", Type: "cosign", ArtifactTypes: []string{oras.CosignSignatureArtifactType}, Parameters: params,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func evalRule(t *testing.T, module, rule string, input map[string]any) any {
	t.Helper()
	opts := append(stubs(), rego.Query("data.ratify.policy."+rule), rego.Module("policy.rego", module), rego.Input(input))
	rs, err := rego.New(opts...).Eval(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, module)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil
	}
	return rs[0].Expressions[0].Value
}

// The same scope decides the same way in the Go matcher (store routing,
// notation's registryScopes) and in the compiled cosign Rego, and the
// host's spelling never matters.
func TestScopeMatchingAgrees(t *testing.T) {
	layout := t.TempDir()
	if _, err := oci.New(layout); err != nil {
		t.Fatal(err)
	}
	for _, c := range scopeCases {
		ref, err := oras.ParseReference(c.image)
		if err != nil {
			t.Fatalf("%s: %v", c.image, err)
		}
		ref = ref.WithDigest(testDigest)
		if got := oras.ScopeMatches(c.scope, ref.Name()); got != c.want {
			t.Errorf("oras.ScopeMatches(%q, %q) = %v, want %v", c.scope, ref.Name(), got, c.want)
		}
		policy := evalRule(t, cosignModule(t, c.scope), "v0_policy", map[string]any{"reference": ref.String()})
		if got := policy == json.Number("0"); got != c.want {
			t.Errorf("cosign trust policy scope %q, image %q (input.reference %q): chose policy %v, want scope match %v",
				c.scope, c.image, ref.String(), policy, c.want)
		}
		// A store scoped to c.scope serves the image exactly when it matches.
		store, err := oras.New(context.Background(), []oras.Config{{Name: "fixtures", Type: oras.TypeLayout, Path: layout, Scopes: []string{c.scope}}}, oras.Options{})
		// Stores refuse a wildcard in the host: it would route (and bind
		// credentials to) registries such as myregistry.io.evil.com.
		hostWildcard := strings.Contains(c.scope, "*") && !strings.Contains(c.scope, "/")
		if hostWildcard {
			if err == nil {
				t.Errorf("store scope %q accepted", c.scope)
			}
			continue
		}
		if err != nil {
			t.Errorf("store scope %q refused: %v", c.scope, err)
			continue
		}
		_, err = store.Resolve(context.Background(), ref)
		if served := !errors.Is(err, oras.ErrNoStore); served != c.want {
			t.Errorf("store scoped %q, image %q: served %v (%v), want %v", c.scope, c.image, served, err, c.want)
		}
	}
}

// Scopes that differ only in spelling are one scope: two trust policies
// cannot both claim it.
func TestScopesOverlapAfterNormalisation(t *testing.T) {
	params := `{"trustPolicies": [
		{"name": "a", "scopes": ["Registry.Example.com:443/team/*"], "keys": [{"provider": "k"}]},
		{"name": "b", "scopes": ["registry.example.com/team/app"], "keys": [{"provider": "k"}]}]}`
	mod, err := compile.Rego(compile.Input{Verifiers: []compile.Verifier{{Name: "c", Type: "cosign",
		ArtifactTypes: []string{oras.CosignSignatureArtifactType}, Parameters: json.RawMessage(params)}}})
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := evalRule(t, mod, "config_errors", map[string]any{}).([]any)
	if len(errs) != 1 || !strings.Contains(errs[0].(string), "overlaps") {
		t.Fatalf("config_errors %v, want one overlap", errs)
	}
}

// A wildcard that does not follow a `/` also matches other registries or
// repositories: the trust policy's opts carry a warning that says so.
func TestHostWildcardScopeWarns(t *testing.T) {
	warnings := func(scope string) []string {
		v := evalRule(t, cosignModule(t, scope), "v0_opts[0].warnings", map[string]any{})
		var out []string
		for _, w := range v.([]any) {
			out = append(out, w.(string))
		}
		return out
	}
	if w := warnings("myregistry.io*"); len(w) != 1 || !strings.Contains(w[0], "myregistry.io.evil.com") || !strings.Contains(w[0], `"myregistry.io/*"`) {
		t.Errorf("scope myregistry.io*: warnings %q, want one naming myregistry.io.evil.com and suggesting myregistry.io/*", w)
	}
	if w := warnings("myregistry.io/team*"); len(w) != 1 || !strings.Contains(w[0], `"myregistry.io/team/*"`) {
		t.Errorf("scope myregistry.io/team*: warnings %q, want one suggesting myregistry.io/team/*", w)
	}
	for _, s := range []string{"myregistry.io/*", "myregistry.io/team/*", "myregistry.io/app"} {
		if w := warnings(s); len(w) != 0 {
			t.Errorf("scope %s: unexpected warnings %q", s, w)
		}
	}
}
