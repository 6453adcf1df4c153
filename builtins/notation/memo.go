package notation

import (
	"context"
	"encoding/json"
	"slices"

	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Every notation.verify call passes its trust policy and trust stores in
// opts; decoding them (a JSON round trip, notation-go's validation of the
// document with the regular expressions it compiles per scope, x509
// parsing of every certificate) and building notation-go's verifier, which
// validates the document again, cost a tenth of a cold verification. The
// same opts always give the same options and verifier, so they are
// remembered by the opts' JSON text: a pure function's memo, bounded in
// bytes, keyed by everything it derives from.
const optionsMemoBytes = 4 << 20

// prepared is what opts give: the options and the verifier built on them
// (nil with verifierErr when it cannot be built). Shared by every call
// with the same opts, so read-only.
type prepared struct {
	opts        Options
	verifier    notationgo.Verifier
	verifierErr error
}

// optionsMemo is the engine's memo of prepared options that ctx carries
// (nil: the caller keeps none, and every call prepares its opts).
func optionsMemo(ctx context.Context) *lru.Cache[string, *prepared] {
	return decl.Memo(decl.MemosFrom(ctx), "notation.options", func() *lru.Cache[string, *prepared] {
		return lru.New[string, *prepared](optionsMemoBytes, 0)
	})
}

// prepare is ParseOptions and newVerifier on opts, or what they gave for
// the same opts before in memo. Options that do not parse, or whose
// verifier cannot be built, are not remembered.
func prepare(memo *lru.Cache[string, *prepared], opts map[string]any) (*prepared, error) {
	text, err := json.Marshal(opts)
	if err != nil {
		o, err := ParseOptions(opts) // says why opts are not JSON-like
		return &prepared{opts: o}, err
	}
	key := string(text)
	if p, ok := memo.Get(key); ok {
		return p, nil
	}
	o, err := ParseOptions(opts)
	if err != nil {
		return &prepared{opts: o}, err
	}
	p := &prepared{opts: o}
	if p.verifier, p.verifierErr = newVerifier(o); p.verifierErr == nil {
		// The text, and about what its decoded document, certificates and
		// verifier hold besides.
		memo.Add(key, p, int64(2*len(key))+4096)
	}
	return p, nil
}

// warnings is a copy of the options' warnings, for a report to append to.
func (p *prepared) warnings() []string { return slices.Clone(p.opts.Warnings) }

// applicablePolicy is the trust policy notation-go applies to the
// repository name (`host/repo`, canonical, as the registry scopes were
// normalised): the one that names it, else the one with scope `*`; nil
// when none does. It is GetApplicableTrustPolicy without the parsing, and
// the regular expressions compiled, on each call.
func applicablePolicy(doc *trustpolicy.Document, name string) *trustpolicy.TrustPolicy {
	var wildcard, exact *trustpolicy.TrustPolicy
	for i := range doc.TrustPolicies {
		p := &doc.TrustPolicies[i]
		switch {
		case slices.Contains(p.RegistryScopes, "*"):
			wildcard = p
		case slices.Contains(p.RegistryScopes, name):
			exact = p
		}
	}
	if exact != nil {
		return exact
	}
	return wildcard
}
