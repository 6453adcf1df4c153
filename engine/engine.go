// Package engine evaluates ratify's decisions. It owns the admission
// pipeline for one image: parse and resolve the reference once, answer from
// the decision cache when everything the verdict depends on is unchanged,
// share one evaluation among concurrent callers, and otherwise evaluate the
// policy in force for the namespace (Rego or CEL, written by the user or
// compiled from Verifier resources) with the verification builtins.
//
// State that outlives a configuration (the store with its caches and auth
// tokens, the builtin cache, the decision cache) lives in Shared; each
// configuration is an immutable Engine with its own revision, built by
// Shared.Build and swapped in by whoever serves requests.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/internal/lru"
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

// DefaultNamespace is ratify's own namespace when RATIFY_NAMESPACE is not
// set, as in Ratify.
const DefaultNamespace = "gatekeeper-system"

// OwnNamespace is ratify's own namespace: ns when given, else
// $RATIFY_NAMESPACE, else DefaultNamespace.
func OwnNamespace(ns string) string {
	if ns == "" {
		ns = os.Getenv("RATIFY_NAMESPACE")
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	return ns
}

// Options tune the engines built on one Shared.
type Options struct {
	Logger *slog.Logger
	// BuiltinCacheEntries bounds the cross-evaluation cache of builtin
	// results (zero: 2,000; negative: off). BuiltinCacheTTL is how long a
	// result that does not depend on a registry (kmp.keys) is kept; zero
	// means 5 minutes. Results that depend on an image's referrers never
	// outlive the store's referrer TTL (10 s unless a Store says otherwise).
	BuiltinCacheEntries int64
	BuiltinCacheTTL     time.Duration
	// DecisionCacheTTL is how long a decision is reused (zero: 10 s, as
	// Ratify's cache; negative: off), and never longer than the referrer
	// TTL. DecisionCacheBytes bounds the cache; zero means 64 MiB.
	DecisionCacheTTL   time.Duration
	DecisionCacheBytes int64
	// DecisionTimeout bounds one shared evaluation, which runs on its own
	// deadline so that a caller that goes away does not fail the others
	// waiting for it; zero means 3 s.
	DecisionTimeout time.Duration
	// Encode, when set, encodes a decision once for the decision cache
	// (the server's item value), so a cached answer is a copy of bytes.
	Encode func(*Decision) ([]byte, error)
	// Namespace is ratify's own namespace: its CertificateStores may be
	// named without a namespace. Zero means $RATIFY_NAMESPACE, else
	// DefaultNamespace.
	Namespace string
	// RequireDigest denies references that are not pinned to a digest (for
	// installations that admit what they verify without mutation).
	RequireDigest bool
	// Budget bounds what one decision may fetch from registries, whatever
	// a registry answers (zero fields: 64 requests, 64 MiB); past it the
	// decision is a denial that says so.
	Budget oras.Limits
	// StoreOptions are passed to the store.
	StoreOptions oras.Options
	// Providers configures key management providers that reach a service.
	Providers ProviderOptions
	// ObserveBuiltin is told of every builtin call that ran (for metrics).
	ObserveBuiltin func(name string, d time.Duration, success, cached bool)
	// ObserveCache is told of every decision cache lookup (for metrics).
	ObserveCache func(hit bool)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BuiltinCacheEntries == 0 {
		o.BuiltinCacheEntries = 2000
	}
	if o.BuiltinCacheTTL == 0 {
		o.BuiltinCacheTTL = 5 * time.Minute
	}
	if o.DecisionCacheTTL == 0 {
		o.DecisionCacheTTL = oras.DefaultReferrersTTL
	}
	if o.DecisionCacheBytes <= 0 {
		o.DecisionCacheBytes = 64 << 20
	}
	if o.DecisionTimeout <= 0 {
		o.DecisionTimeout = 3 * time.Second
	}
	o.Namespace = OwnNamespace(o.Namespace)
	if o.Providers.Logger == nil {
		o.Providers.Logger = o.Logger
	}
	if o.StoreOptions.Logger == nil {
		o.StoreOptions.Logger = o.Logger
	}
	return o
}

// Shared is what lives across configuration revisions: the store (kept
// while the Store resources are unchanged, so its content, referrer and
// token caches survive), the builtin cache, the decision cache and the
// in-flight evaluations. Every cache key carries the revision, so a new
// configuration never reuses an old answer.
type Shared struct {
	opts      Options
	builtins  *builtins.Cache
	memos     *decl.Memos
	decisions *lru.Cache[decisionKey, *Verdict]
	flight    singleflight.Group

	mu       sync.Mutex
	store    *oras.Store
	storeKey string
	// providers outlive builds: see providerCache.
	providers providerCache
	// policies compiled by the last build: see policyCache.
	policies policyCache
}

// NewShared returns the long-lived state engines are built on.
func NewShared(opts Options) *Shared {
	opts = opts.withDefaults()
	s := &Shared{opts: opts, builtins: builtins.NewCache(opts.BuiltinCacheEntries, opts.BuiltinCacheTTL), memos: decl.NewMemos()}
	if opts.DecisionCacheTTL > 0 {
		s.decisions = lru.New[decisionKey, *Verdict](opts.DecisionCacheBytes, opts.DecisionCacheTTL)
	}
	return s
}

// Engine is an immutable snapshot of configuration: store, key management
// providers, and the compiled policies. A configuration change builds a new
// Engine with a new revision on the same Shared.
type Engine struct {
	shared   *Shared
	store    *oras.Store
	kmp      *kmp.Registry
	revision string
	policies *policySet
	warnings []string
	log      *slog.Logger
	// subjectTTL bounds the life of anything derived from an image's
	// referrers: the shortest referrer TTL of the configured stores.
	subjectTTL time.Duration
}

// New builds an engine with its own Shared, for one-shot commands.
func New(ctx context.Context, res *config.Resources, opts Options) (*Engine, error) {
	return NewShared(opts).Build(ctx, res)
}

// Build compiles res into an engine on s's caches.
func (s *Shared) Build(ctx context.Context, res *config.Resources) (*Engine, error) {
	e := &Engine{shared: s, revision: res.Revision(), log: s.opts.Logger}
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
	e.subjectTTL = subjectTTL(storeCfgs)
	for _, st := range res.Stores {
		if p, _, err := st.Spec.StoreParameters(); err == nil && p.AuthProvider != nil && p.AuthProvider.DisableInstanceDiscovery {
			e.warnings = append(e.warnings, fmt.Sprintf("Store %s: disableInstanceDiscovery is on: Entra ID's instance discovery is skipped (meant for private and disconnected clouds)", st.Name))
		}
	}
	if e.store, err = s.storeFor(ctx, res, storeCfgs); err != nil {
		return nil, err
	}
	// NamespacedStores load (Ratify's YAML has them) but never change the
	// registries a verification reads.
	for _, ns := range res.NamespacedStores {
		e.warnings = append(e.warnings, fmt.Sprintf("NamespacedStore %s/%s is not supported yet: signatures are read through cluster Stores",
			config.Namespace(ns.Namespace), ns.Name))
	}
	began := time.Now()
	if e.kmp, err = buildKMP(ctx, res, s.opts.Namespace, &s.providers, s.opts.Providers); err != nil {
		return nil, err
	}
	// Providers not in this configuration (nor checked since the build
	// began) are gone; a refresh that changed a provider's material is a
	// new revision.
	s.providers.prune(began.Add(-time.Minute))
	if v := materialVersions(e.kmp); v != "" {
		e.revision += "+" + v
	}
	e.warnings = append(e.warnings, e.kmp.Warnings()...)
	if e.policies, err = buildPolicies(ctx, res, &s.policies); err != nil {
		return nil, err
	}
	e.warnings = append(e.warnings, e.policies.warnings...)
	return e, nil
}

// storeFor reuses the last store when the Store resources did not change.
func (s *Shared) storeFor(ctx context.Context, res *config.Resources, cfgs []oras.Config) (*oras.Store, error) {
	b, err := json.Marshal(res.Stores)
	if err != nil {
		return nil, err
	}
	key := string(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil && s.storeKey == key {
		return s.store, nil
	}
	st, err := oras.New(ctx, cfgs, s.opts.StoreOptions)
	if err != nil {
		return nil, err
	}
	s.store, s.storeKey = st, key
	return st, nil
}

// subjectTTL is the shortest referrer TTL of cfgs: negative when one of
// them does not cache referrer lists at all (then nothing derived from them
// is cached either), as builtins.Config.SubjectTTL reads it.
func subjectTTL(cfgs []oras.Config) time.Duration {
	var ttl time.Duration
	for _, c := range cfgs {
		t := c.ReferrersTTL
		switch {
		case t < 0:
			return -1
		case t == 0:
			t = oras.DefaultReferrersTTL
		}
		if ttl == 0 || t < ttl {
			ttl = t
		}
	}
	if ttl == 0 {
		ttl = oras.DefaultReferrersTTL
	}
	return ttl
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

// Evaluate decides whether subject may run in namespace ("" when the
// request has no namespace), without the decision cache: for commands and
// tests. It never panics: a failure denies, with a reason.
func (e *Engine) Evaluate(ctx context.Context, subject, namespace string) Decision {
	req := e.Prepare(namespace, subject)
	if d, ok := e.refuse(&req); ok {
		return d
	}
	ctx = oras.WithBudget(ctx, oras.NewBudget(e.shared.opts.Budget))
	desc, err := e.store.Resolve(ctx, req.ref)
	if err != nil {
		d := req.denied(err.Error())
		d.Transient = oras.IsTransient(err) || ctx.Err() != nil
		return d
	}
	return e.evaluate(ctx, &req, desc)
}

// evaluate runs the policy in force on a resolved subject.
func (e *Engine) evaluate(ctx context.Context, req *Request, desc ocispec.Descriptor) (d Decision) {
	d = req.denied()
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("evaluation panicked", "subject", req.Image, "traceID", d.TraceID, "panic", p, "stack", string(debug.Stack()))
			d.Allow = false
			d.Reasons = append(d.Reasons, fmt.Sprintf("internal error while evaluating %s (trace %s)", req.Image, d.TraceID))
			d.Transient = true
		}
	}()
	ref := req.ref.WithDigest(desc.Digest)
	d.Reference, d.Digest = ref.String(), desc.Digest.String()

	p := e.policies.forNamespace(req.Namespace)
	d.Policy = p.name
	sess := e.NewSession(p.scope)
	sess.Pin(d.Reference, desc)
	input := map[string]any{"subject": req.Image, "reference": d.Reference, "digest": d.Digest, "namespace": req.Namespace}
	allow, reasons, err := p.eval(ctx, sess, input)
	d.Reports = sess.Reports()
	d.Calls = sess.Calls()
	d.Transient = sess.Transient()
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

// NewSession returns a builtin session on the engine's configuration, for
// one evaluation; tools that run policies themselves (`ratify policy
// test`, `ratify opa`) use it too. scope is the namespace whose key
// management providers are visible.
func (e *Engine) NewSession(scope string) *builtins.Session {
	cfg := builtins.Config{
		Scope: scope, Revision: e.revision, Cache: e.shared.builtins, Memos: e.shared.memos,
		Observe: e.shared.opts.ObserveBuiltin, SubjectTTL: e.subjectTTL,
	}
	// A nil *Store or *Registry must be a nil interface: "not configured".
	if e.store != nil {
		cfg.Content = e.store
	}
	if e.kmp != nil {
		cfg.Providers = e.kmp
	}
	return builtins.NewSession(cfg)
}
