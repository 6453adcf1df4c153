// Package engine evaluates ratify's decisions: it resolves the image,
// evaluates the policy in force for the namespace (Rego or CEL, written by
// the user or compiled from Verifier resources) with the verification
// builtins, and returns the verdict with every report the builtins left.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// Decision is the verdict on one image.
type Decision struct {
	// Subject is the reference as given.
	Subject string `json:"subject"`
	// Reference is the subject pinned to the digest that was verified.
	Reference string `json:"reference,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Allow     bool   `json:"allow"`
	// Reasons say why the image was denied.
	Reasons []string        `json:"reasons,omitempty"`
	Reports []report.Report `json:"reports"`
	// Policy names the policy that decided.
	Policy  string    `json:"policy"`
	TraceID string    `json:"traceID"`
	Time    time.Time `json:"timestamp"`
	// Transient is true when an outage (registry unreachable, throttling,
	// timeout) contributed: the decision must not be cached.
	Transient bool `json:"transient,omitempty"`
	// Calls are the builtin calls the policy made, in order.
	Calls []builtins.Call `json:"-"`
}

// Options tune an Engine.
type Options struct {
	Logger *slog.Logger
	// BuiltinCacheEntries and BuiltinCacheTTL bound the cross-evaluation
	// cache of builtin results; zero means 2,000 entries for 5 minutes.
	BuiltinCacheEntries int64
	BuiltinCacheTTL     time.Duration
	// StoreOptions are passed to the store.
	StoreOptions oras.Options
	// ObserveBuiltin is told of every builtin call that ran (for metrics).
	ObserveBuiltin func(name string, d time.Duration, success, cached bool)
}

// Engine is an immutable snapshot of configuration: store, key management
// providers, and the compiled policies. A configuration change builds a new
// Engine with a new revision.
type Engine struct {
	store    *oras.Store
	kmp      *kmp.Registry
	revision string
	cache    *builtins.Cache
	policies *policySet
	warnings []string
	log      *slog.Logger
	observe  func(name string, d time.Duration, success, cached bool)
}

// New builds an engine from resources.
func New(ctx context.Context, res *config.Resources, opts Options) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{revision: res.Revision(), log: log, observe: opts.ObserveBuiltin}
	if opts.BuiltinCacheEntries == 0 {
		opts.BuiltinCacheEntries = 2000
	}
	if opts.BuiltinCacheTTL == 0 {
		opts.BuiltinCacheTTL = 5 * time.Minute
	}
	e.cache = builtins.NewCache(opts.BuiltinCacheEntries, opts.BuiltinCacheTTL)

	storeCfgs, err := res.StoreConfigs()
	if err != nil {
		return nil, err
	}
	if len(storeCfgs) == 0 {
		auth, err := oras.NewDockerConfigAuth("")
		if err != nil {
			return nil, err
		}
		storeCfgs = []oras.Config{{Name: "default", Type: oras.TypeRemote, CosignEnabled: true, Auth: auth}}
		e.warnings = append(e.warnings, "no Store resource: using a registry store over HTTPS with docker credentials and cosign signatures")
	}
	so := opts.StoreOptions
	if so.Logger == nil {
		so.Logger = log
	}
	if e.store, err = oras.New(ctx, storeCfgs, so); err != nil {
		return nil, err
	}
	e.kmp = buildKMP(res)
	e.warnings = append(e.warnings, e.kmp.Warnings()...)
	if e.policies, err = buildPolicies(ctx, res); err != nil {
		return nil, err
	}
	e.warnings = append(e.warnings, e.policies.warnings...)
	return e, nil
}

// Revision identifies the configuration the engine was built from.
func (e *Engine) Revision() string { return e.revision }

// Warnings are configuration warnings found while building.
func (e *Engine) Warnings() []string { return e.warnings }

// Store is the engine's store.
func (e *Engine) Store() *oras.Store { return e.store }

// PolicySource returns the Rego (or CEL) source of the policy in force for
// namespace, and what it was made from.
func (e *Engine) PolicySource(namespace string) (source, description string) {
	p := e.policies.forNamespace(namespace)
	return p.source, p.name
}

func buildKMP(res *config.Resources) *kmp.Registry {
	reg := kmp.NewRegistry()
	for _, k := range res.KMPs {
		if err := reg.Add("", k.Name, k.Spec.Type, k.Spec.Parameters.Raw); err != nil {
			reg.Warn(err.Error())
		}
	}
	for _, k := range res.NamespacedKMPs {
		if err := reg.Add(config.Namespace(k.Namespace), k.Name, k.Spec.Type, k.Spec.Parameters.Raw); err != nil {
			reg.Warn(err.Error())
		}
	}
	for _, cs := range res.CertificateStores {
		reg.Warn(fmt.Sprintf("CertificateStore %s is deprecated: use a KeyManagementProvider of type inline with contentType: certificate", cs.Name))
		p, err := certificateStore(cs.Name, cs.Spec.Provider, cs.Spec.Parameters.Raw)
		if err != nil {
			reg.Warn(err.Error())
		}
		// Ratify's Verifiers name certificate stores with or without namespace.
		reg.AddProvider("", cs.Name, p)
		reg.AddProvider(config.Namespace(cs.Namespace), cs.Name, p)
	}
	return reg
}

// Evaluate decides whether subject may run in namespace ("" when the
// request has no namespace). It never panics: a failure denies, with a reason.
func (e *Engine) Evaluate(ctx context.Context, subject, namespace string) (d Decision) {
	d = Decision{Subject: subject, Namespace: namespace, TraceID: newTraceID(), Time: time.Now().UTC(), Reports: []report.Report{}}
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("evaluation panicked", "subject", subject, "traceID", d.TraceID, "panic", p, "stack", string(debug.Stack()))
			d.Allow = false
			d.Reasons = append(d.Reasons, fmt.Sprintf("internal error while evaluating %s (trace %s)", subject, d.TraceID))
			d.Transient = true
		}
	}()
	ref, err := oras.ParseReference(subject)
	if err != nil {
		d.Reasons = []string{err.Error()}
		return d
	}
	desc, err := e.store.Resolve(ctx, ref)
	if err != nil {
		d.Reasons = []string{err.Error()}
		d.Transient = oras.IsTransient(err)
		return d
	}
	ref = ref.WithDigest(desc.Digest)
	d.Reference, d.Digest = ref.String(), desc.Digest.String()

	p := e.policies.forNamespace(namespace)
	d.Policy = p.name
	env := e.NewEnv(p.scope)
	input := map[string]any{"subject": subject, "reference": d.Reference, "digest": d.Digest, "namespace": namespace}
	allow, reasons, err := p.eval(ctx, env, input)
	d.Reports = env.Reports()
	d.Calls = env.Calls()
	d.Transient = env.Transient()
	if err != nil {
		d.Reasons = append(d.Reasons, fmt.Sprintf("policy %s: %v", p.name, err))
		d.Transient = d.Transient || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
		return d
	}
	d.Allow = allow
	if !allow {
		d.Reasons = append(d.Reasons, reasons...)
		// Builtins that could not run explain what the policy could not see.
		for _, r := range d.Reports {
			if r.Verifier != "notation" && r.Verifier != "cosign" && !r.IsSuccess {
				d.Reasons = append(d.Reasons, r.Verifier+": "+r.Message)
			}
		}
		if len(d.Reasons) == 0 {
			d.Reasons = []string{"denied by policy " + p.name}
		}
	}
	return d
}

func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewEnv returns a builtin environment on the engine's configuration, for
// tools that run policies themselves (`ratify policy test`, `ratify opa`).
// scope is the namespace whose key management providers are visible.
func (e *Engine) NewEnv(scope string) *builtins.Env {
	env := builtins.NewEnv(e.store, e.kmp, scope, e.revision, e.cache)
	env.Observe = e.observe
	return env
}

// CacheScope names the set of namespaces whose decisions on one digest
// are interchangeable: the policy's scope for policies compiled from
// Verifiers (which never read the namespace), and the namespace itself for
// user policies, which may (a namespace exemption, say).
func (e *Engine) CacheScope(namespace string) string {
	p := e.policies.forNamespace(namespace)
	if p.compiled {
		return "scope:" + p.scope
	}
	return "namespace:" + namespace
}
