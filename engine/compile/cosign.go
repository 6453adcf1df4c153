package compile

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

func (g *gen) cosign(i int, v Verifier) {
	// The checks below are the compiler's (their messages are the
	// policy's reasons); unknown fields were reported when loading.
	p, _, err := v1beta1.DecodeParameters[v1beta1.CosignParameters](runtime.RawExtension{Raw: v.Parameters})
	if errors.Is(err, v1beta1.ErrMalformedParameters) {
		g.configError("%s: %v", v.display(), err)
		g.noReport(i)
		// The failure rule reads which trust policy applied: none.
		g.line("v%d_policy := -1 if false", i)
		return
	}
	if len(p.TrustPolicies) == 0 {
		g.configError("%s: parameters.trustPolicies is required", v.display())
	}
	// Scopes are normalised as references are (oras.NormalizeScope), so the
	// prefix and equality matching of scope_matches against input.reference
	// (a canonical reference) agrees with oras.ScopeMatches whatever the
	// spelling of the registry host.
	warnings := make([][]string, len(p.TrustPolicies))
	normalized := true
	for j := range p.TrustPolicies {
		tp := &p.TrustPolicies[j]
		for k, sc := range tp.Scopes {
			n, err := oras.NormalizeScope(sc)
			if err != nil {
				g.configError("%s: trust policy %q: %v", v.display(), tp.Name, err)
				normalized = false
				continue
			}
			tp.Scopes[k] = n
			if w := wildcardWarning(n); w != "" {
				warnings[j] = append(warnings[j], fmt.Sprintf("%s: trust policy %q: %s", v.display(), tp.Name, w))
			}
		}
	}
	if normalized {
		if err := checkScopes(p.TrustPolicies); err != nil {
			g.configError("%s: %v", v.display(), err)
		}
	}
	// The trust policy for the image: the one whose scope matches, else the
	// `*` one (scopes do not overlap, so at most one specific scope matches).
	var wildcard *v1beta1.CosignTrustPolicy
	first := true
	for j := range p.TrustPolicies {
		tp := &p.TrustPolicies[j]
		if tp.Keyless != nil {
			g.configError("%s: trust policy %q: keyless verification is not supported yet", v.display(), tp.Name)
		}
		if len(tp.Keys) == 0 {
			g.configError("%s: trust policy %q has no keys", v.display(), tp.Name)
		}
		var specific []string
		for _, s := range tp.Scopes {
			if s == "*" {
				wildcard = tp
			} else {
				specific = append(specific, s)
			}
		}
		if len(specific) == 0 {
			continue
		}
		kw := "else :="
		if first {
			kw = fmt.Sprintf("v%d_policy :=", i)
			first = false
		}
		g.line("%s %d if {", kw, j)
		g.line("\tsome s in %s", jsonLiteral(specific))
		g.line("\tscope_matches(s, image_name)")
		g.line("}")
	}
	if wildcard != nil {
		j := indexOf(p.TrustPolicies, wildcard)
		if first {
			g.line("v%d_policy := %d", i, j)
		} else {
			g.line("else := %d", j)
		}
	} else if first {
		g.line("v%d_policy := -1 if false", i)
	}
	g.line("")
	for j, tp := range p.TrustPolicies {
		refs := make([]string, len(tp.Keys))
		filters := make([]string, len(tp.Keys))
		for k, key := range tp.Keys {
			refs[k] = key.Provider
			g.checkVisible(v, key.Provider)
			var conds []string
			if key.Name != "" {
				conds = append(conds, "k.name == "+quote(key.Name))
			}
			if key.Version != "" {
				conds = append(conds, "k.version == "+quote(key.Version))
			}
			filters[k] = strings.Join(conds, "; ")
		}
		tlog := tp.TLogVerify != nil && *tp.TLogVerify
		g.line("# trust policy %q, scopes %s", tp.Name, jsonLiteral(tp.Scopes))
		g.line("v%d_opts[%d] := {\"keys\": %s, \"tlog\": %t, \"warnings\": %s}", i, j, concatCalls("kmp.keys", refs, filters), tlog, jsonLiteral(nonNilStrings(warnings[j])))
		g.line("")
	}
	g.line("v%d_report := cosign.verify(input.reference, v%d_opts[v%d_policy]) if v%d_applies", i, i, i, i)
	g.line("")
	g.line("reasons contains %s if {", quote(v.display()+": no trust policy scope matches the image"))
	g.line("\tv%d_applies", i)
	g.line("\tnot v%d_policy", i)
	g.line("}")
	g.scopeMatches()
}

// scopeMatches emits the scope matcher once.
func (g *gen) scopeMatches() {
	if strings.Contains(g.b.String(), "scope_matches(scope, name) if") {
		return
	}
	g.line("")
	g.line("# A scope is `*`, `host/repo`, or a prefix ending in `/*` or `*`, normalised")
	g.line("# as references are, so this is oras.ScopeMatches.")
	g.line(`scope_matches(scope, name) if scope == name`)
	g.line(`scope_matches(scope, name) if {`)
	g.line(`	endswith(scope, "*")`)
	g.line(`	startswith(name, trim_suffix(scope, "*"))`)
	g.line(`}`)
}

// wildcardWarning explains what a normalised scope whose wildcard does not
// follow a `/` matches beyond what it seems to: other registries
// (`myregistry.io*`), or sibling repositories (`host/team*`).
func wildcardWarning(scope string) string {
	prefix, wild := strings.CutSuffix(scope, "*")
	if scope == "*" || !wild || prefix == "" || strings.HasSuffix(prefix, "/") {
		return ""
	}
	if !strings.Contains(prefix, "/") {
		return fmt.Sprintf("scope %q also matches other registries, such as %q; write %q to match only the registry %s",
			scope, prefix+".evil.com/app", prefix+"/*", prefix)
	}
	return fmt.Sprintf("scope %q also matches repositories that merely start with %q, such as %q; write %q (and %q for that repository itself) to match only below it",
		scope, prefix, prefix+"-other/app", prefix+"/*", prefix)
}

func indexOf(tps []v1beta1.CosignTrustPolicy, tp *v1beta1.CosignTrustPolicy) int {
	for j := range tps {
		if &tps[j] == tp {
			return j
		}
	}
	return -1
}

// checkScopes enforces Ratify's rules on scopes already normalised (and so
// validated) by oras.NormalizeScope: one `*` at most, and no scope of one
// policy may overlap a scope of any policy (so the choice is never ambiguous).
func checkScopes(tps []v1beta1.CosignTrustPolicy) error {
	type owned struct{ scope, policy string }
	var all []owned
	wild := 0
	for _, tp := range tps {
		if len(tp.Scopes) == 0 {
			return fmt.Errorf("trust policy %q has no scopes", tp.Name)
		}
		for _, s := range tp.Scopes {
			if s == "*" {
				wild++
				continue
			}
			all = append(all, owned{s, tp.Name})
		}
	}
	if wild > 1 {
		return fmt.Errorf("the `*` scope may appear in one trust policy only")
	}
	for a := 0; a < len(all); a++ {
		for b := a + 1; b < len(all); b++ {
			if overlap(all[a].scope, all[b].scope) {
				return fmt.Errorf("scope %q of trust policy %q overlaps scope %q of trust policy %q", all[a].scope, all[a].policy, all[b].scope, all[b].policy)
			}
		}
	}
	return nil
}

func overlap(a, b string) bool {
	covers := func(pattern, s string) bool {
		if strings.HasSuffix(pattern, "*") {
			return strings.HasPrefix(strings.TrimSuffix(s, "*"), strings.TrimSuffix(pattern, "*"))
		}
		return pattern == s
	}
	return covers(a, b) || covers(b, a)
}
