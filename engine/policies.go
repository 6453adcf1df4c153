package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	celpolicy "github.com/seed-12b584bc/ratify/engine/cel"
	"github.com/seed-12b584bc/ratify/engine/compile"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/opa"
)

// policy is one compiled policy and the scope it runs with.
type policy struct {
	name   string // what it was made from, for decisions and `policy show`
	scope  string // namespace whose providers it may use; "" cluster-wide
	source string
	rego   *opa.Policy
	cel    *celpolicy.Policy
	// compiled is true for policies generated from Verifiers alone.
	compiled bool
	// listsReferrers is true when the policy may list the subject's
	// referrers (it names a builtin that does): Decide then asks for the
	// list while it resolves a digest.
	listsReferrers bool
	// verify is the compiled verification module of Ratify's rego-policy:
	// its verifier_reports become the user policy's input.verifierReports.
	verify *opa.Policy
}

func (p *policy) eval(ctx context.Context, sess *builtins.Session, input map[string]any) (bool, []string, error) {
	switch {
	case p.cel != nil:
		return p.cel.Eval(ctx, sess, input)
	case p.verify != nil:
		v, err := p.verify.Rule(ctx, sess, "verifier_reports", input)
		if err != nil {
			return false, nil, err
		}
		reports, _ := v.([]any)
		if len(reports) == 0 {
			return false, []string{fmt.Sprintf("no signatures: %s has no artifact of a type the verifiers handle", input["reference"])}, nil
		}
		legacy := map[string]any{"verifierReports": reports}
		for k, v := range input {
			legacy[k] = v
		}
		return p.rego.Eval(ctx, sess, legacy)
	default:
		return p.rego.Eval(ctx, sess, input)
	}
}

// policySet is the cluster policy and the per-namespace ones.
type policySet struct {
	cluster    *policy
	namespaced map[string]*policy
	warnings   []string
}

func (s *policySet) forNamespace(ns string) *policy {
	if p, ok := s.namespaced[ns]; ok {
		return p
	}
	return s.cluster
}

// buildPolicies compiles what is in force: for the cluster, the Policy
// named ratify-policy (or the compiled default of the cluster Verifiers);
// for a namespace, its NamespacedPolicy, or the compiled default of the
// cluster Verifiers and the namespace's NamespacedVerifiers. Policies
// compiled from the same inputs as in the last build on cache are reused.
func buildPolicies(ctx context.Context, res *config.Resources, cache *policyCache) (*policySet, error) {
	set := &policySet{namespaced: map[string]*policy{}}
	build := cache.build()
	var cluster *v1beta1.Policy
	for i := range res.Policies {
		p := &res.Policies[i]
		if p.Name != v1beta1.ClusterPolicyName {
			set.warnings = append(set.warnings, fmt.Sprintf("Policy %s is ignored: the Policy in force must be named %s", p.Name, v1beta1.ClusterPolicyName))
			continue
		}
		cluster = p
	}
	var clusterVerifiers []compile.Verifier
	for _, v := range res.Verifiers {
		clusterVerifiers = append(clusterVerifiers, verifierInput(v.Name, "", v.Spec))
	}
	byNS := map[string][]compile.Verifier{}
	for _, v := range res.NamespacedVerifiers {
		ns := config.Namespace(v.Namespace)
		byNS[ns] = append(byNS[ns], verifierInput(v.Name, ns, v.Spec))
	}

	var err error
	var clusterSpec *v1beta1.PolicySpec
	name := "compiled default"
	if cluster != nil {
		clusterSpec, name = &cluster.Spec, "Policy "+cluster.Name
	}
	if set.cluster, err = build.fromSpec(ctx, name, "", clusterSpec, clusterVerifiers); err != nil {
		return nil, err
	}
	for ns, vs := range byNS {
		all := append(append([]compile.Verifier{}, clusterVerifiers...), vs...)
		if set.namespaced[ns], err = build.fromSpec(ctx, "compiled default for namespace "+ns, ns, clusterSpec, all); err != nil {
			return nil, err
		}
	}
	for i := range res.NamespacedPolicies {
		p := &res.NamespacedPolicies[i]
		ns := config.Namespace(p.Namespace)
		if set.namespaced[ns], err = build.fromSpec(ctx, "NamespacedPolicy "+ns+"/"+p.Name, ns, &p.Spec, append(append([]compile.Verifier{}, clusterVerifiers...), byNS[ns]...)); err != nil {
			return nil, err
		}
	}
	build.commit()
	return set, nil
}

func verifierInput(name, ns string, spec v1beta1.VerifierSpec) compile.Verifier {
	var types []string
	for _, t := range strings.Split(spec.ArtifactTypes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	return compile.Verifier{Name: name, Namespace: ns, Type: spec.VerifierType(), ArtifactTypes: types, Parameters: spec.Parameters.Raw}
}

// fromSpec builds a policy from a Policy spec; nil means the compiled default.
func fromSpec(ctx context.Context, name, scope string, spec *v1beta1.PolicySpec, vs []compile.Verifier) (*policy, error) {
	p := &policy{name: name, scope: scope}
	if spec == nil {
		spec = &v1beta1.PolicySpec{Type: v1beta1.PolicyConfig}
	}
	sources := sourceNames(vs)
	var err error
	switch spec.Type {
	case v1beta1.PolicyConfig:
		var params v1beta1.ConfigPolicyParameters
		if params, _, err = spec.ConfigPolicyParameters(); err != nil {
			break
		}
		p.compiled = true
		p.source, err = compile.Rego(compile.Input{Verifiers: vs, ConfigPolicy: params, Sources: append(sources, name)})
		if err == nil {
			p.rego, err = opa.Compile(ctx, map[string]string{"compiled.rego": p.source}, opa.Allow)
		}
	case v1beta1.PolicyRego:
		var params v1beta1.RegoParameters
		if params, _, err = spec.RegoParameters(); err != nil {
			break
		}
		p.source = params.Policy
		p.rego, err = opa.Compile(ctx, map[string]string{"policy.rego": params.Policy}, opa.Allow)
	case v1beta1.PolicyRatifyRego:
		var params v1beta1.RatifyRegoParameters
		if params, _, err = spec.RatifyRegoParameters(); err != nil {
			break
		}
		var verify string
		verify, err = compile.Rego(compile.Input{Verifiers: vs, Package: "ratify.compiled", Sources: sources})
		if err == nil {
			p.verify, err = opa.Compile(ctx, map[string]string{"compiled.rego": verify}, opa.Contract{Package: "ratify.compiled", Rule: "verifier_reports"})
		}
		if err == nil {
			p.source = verify + "\n# --- rego-policy ---\n" + params.Policy
			p.rego, err = opa.Compile(ctx, map[string]string{"policy.rego": params.Policy}, opa.Valid)
		}
	case v1beta1.PolicyCEL:
		var params v1beta1.CELParameters
		if params, _, err = spec.CELParameters(); err != nil {
			break
		}
		validations := make([]celpolicy.Validation, len(params.Validations))
		for i, v := range params.Validations {
			validations[i] = celpolicy.Validation{Expression: v.Expression, Message: v.Message}
		}
		b, _ := json.MarshalIndent(validations, "", "  ")
		p.source = string(b)
		p.cel, err = celpolicy.Compile(validations)
	default:
		err = fmt.Errorf("unknown policy type %q (supported: %s, %s, %s, %s)", spec.Type,
			v1beta1.PolicyConfig, v1beta1.PolicyRatifyRego, v1beta1.PolicyRego, v1beta1.PolicyCEL)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.listsReferrers = strings.Contains(p.source, "oras.referrers") || strings.Contains(p.source, ".verify(")
	return p, nil
}

func sourceNames(vs []compile.Verifier) []string {
	var out []string
	for _, v := range vs {
		out = append(out, kmp.Ref(v.Namespace, v.Name))
	}
	sort.Strings(out)
	return out
}
