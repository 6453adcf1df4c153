package compile

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// trustStoreTypes are notation's trust store types.
var trustStoreTypes = map[string]bool{"ca": true, "signingAuthority": true, "tsa": true}

func (g *gen) notation(i int, v Verifier) {
	// The checks below are the compiler's (their messages are the
	// policy's reasons); unknown fields were reported when loading.
	p, _, err := v1beta1.DecodeParameters[v1beta1.NotationParameters](runtime.RawExtension{Raw: v.Parameters})
	if errors.Is(err, v1beta1.ErrMalformedParameters) {
		g.configError("%s: %v", v.display(), err)
		g.noReport(i)
		return
	}
	var warnings []string
	if len(p.VerificationCertStores) == 0 && len(p.Certs) > 0 && string(p.Certs) != "null" {
		p.VerificationCertStores = map[string]json.RawMessage{"certs": p.Certs}
		warnings = append(warnings, "verificationCertStores is empty and `certs:` sits beside it; "+
			"indent `certs:` under `verificationCertStores:` (it was read as if it were)")
	}
	if len(p.TrustPolicyDoc) == 0 || string(p.TrustPolicyDoc) == "null" {
		g.configError("%s: parameters.trustPolicyDoc is required", v.display())
	}
	var doc struct {
		TrustPolicies []struct {
			TrustStores []string `json:"trustStores"`
		} `json:"trustPolicies"`
	}
	_ = json.Unmarshal(p.TrustPolicyDoc, &doc)
	// The types under which the policy names each trust store, for the flat form.
	typesOf := map[string][]string{}
	for _, tp := range doc.TrustPolicies {
		for _, ts := range tp.TrustStores {
			if typ, name, ok := strings.Cut(ts, ":"); ok {
				typesOf[name] = appendUnique(typesOf[name], typ)
			}
		}
	}

	stores := map[string][]string{} // "type:name" -> provider refs
	for key, raw := range p.VerificationCertStores {
		var refs []string
		if json.Unmarshal(raw, &refs) == nil {
			// Flat: key is the store name; its type comes from the policy.
			typs := typesOf[key]
			if len(typs) == 0 {
				typs = []string{"ca"}
			}
			for _, t := range typs {
				stores[t+":"+key] = append(stores[t+":"+key], refs...)
			}
			continue
		}
		var nested map[string][]string
		if !trustStoreTypes[key] || json.Unmarshal(raw, &nested) != nil {
			g.configError("%s: verificationCertStores.%s: want a list of key management providers, or one of ca, signingAuthority, tsa mapping store names to such lists", v.display(), key)
			continue
		}
		for name, refs := range nested {
			stores[key+":"+name] = append(stores[key+":"+name], refs...)
		}
	}

	names := make([]string, 0, len(stores))
	for n := range stores {
		names = append(names, n)
	}
	sort.Strings(names)
	var entries []string
	for _, n := range names {
		for _, ref := range stores[n] {
			g.checkVisible(v, ref)
		}
		entries = append(entries, quote(n)+": "+concatCalls("kmp.certificates", stores[n], nil))
	}
	g.line("v%d_report := notation.verify(input.reference, {", i)
	g.line("\t\"trustPolicy\": %s,", jsonLiteral(json.RawMessage(nonNull(p.TrustPolicyDoc))))
	g.line("\t\"trustStores\": {%s},", strings.Join(entries, ", "))
	g.line("\t\"warnings\": %s,", jsonLiteral(nonNilStrings(warnings)))
	g.line("}) if v%d_applies", i)
}

// checkVisible records a configuration error when v may not use provider
// ref: a cluster Verifier sees cluster providers only; a namespaced one
// also sees its own namespace's.
func (g *gen) checkVisible(v Verifier, ref string) {
	ns, _, namespaced := strings.Cut(ref, "/")
	switch {
	case !namespaced:
	case v.Namespace == "":
		g.configError("%s is cluster-wide and cannot use the namespaced key management provider %q; use a cluster-wide KeyManagementProvider, or a NamespacedVerifier in %s", v.display(), ref, ns)
	case ns != v.Namespace:
		g.configError("%s cannot use key management provider %q of namespace %s", v.display(), ref, ns)
	}
}

// concatCalls is the Rego expression concatenating fn(ref) for each ref,
// each optionally filtered by a Rego condition on `k`.
func concatCalls(fn string, refs []string, filters []string) string {
	if len(refs) == 0 {
		return "[]"
	}
	parts := make([]string, len(refs))
	for j, ref := range refs {
		call := fn + "(" + quote(ref) + ")"
		if filters != nil && filters[j] != "" {
			call = "[k | some k in " + call + "; " + filters[j] + "]"
		}
		parts[j] = call
	}
	expr := parts[0]
	for _, p := range parts[1:] {
		expr = "array.concat(" + expr + ", " + p + ")"
	}
	return expr
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func nonNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	return raw
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
