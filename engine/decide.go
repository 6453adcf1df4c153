package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

// Request is one image to decide, parsed once: every later step (the
// cache lookup, resolution, evaluation) uses the parsed reference.
type Request struct {
	// Namespace whose policy applies ("" for none).
	Namespace string
	// Image is the reference as the caller wrote it.
	Image string
	ref   oras.Reference
	err   error
}

// Prepare parses image for a decision in namespace. It returns a value,
// so that a key answered from the cache costs no allocation for it.
func (e *Engine) Prepare(namespace, image string) Request {
	r := Request{Namespace: namespace, Image: image}
	r.ref, r.err = oras.ParseReference(image)
	return r
}

// denied is a denial of r with reasons and nothing verified yet.
func (r *Request) denied(reasons ...string) Decision {
	d := Decision{Subject: r.Image, Namespace: r.Namespace, TraceID: newTraceID(), Time: time.Now().UTC(),
		Reports: []report.Report{}, Reasons: reasons}
	if r.err == nil {
		d.Reference = r.ref.String()
	}
	return d
}

// Invalid says why r is not an image reference at all: it does not parse,
// or it carries a namespace prefix, which only the server may strip.
func (r *Request) Invalid() error {
	if strings.HasPrefix(r.Image, "[") {
		// %.128q: the image as a pod author wrote it, at most 128 characters of it.
		return fmt.Errorf("%w %.128q: an image reference cannot start with '[' (a namespace prefix is honoured only from the multi-tenancy constraint template, with ratify serve --multi-tenancy)", oras.ErrInvalidReference, r.Image)
	}
	return r.err
}

// refuse decides what needs no registry: a reference that is invalid, a
// tag where digests are required.
func (e *Engine) refuse(r *Request) (Decision, bool) {
	if err := r.Invalid(); err != nil {
		return r.denied(err.Error()), true
	}
	if e.shared.opts.RequireDigest && r.ref.Digest == "" {
		return r.denied(fmt.Sprintf("%s is not pinned to a digest: this installation admits only images by digest (tags can move after verification; enable mutation or write image@sha256:...)", r.Image)), true
	}
	return Decision{}, false
}

// Verdict is a decision with its encoding (Options.Encode), shared by every
// caller the decision cache answers: treat it as read-only. With an
// encoding the cache keeps only the verdict and its bytes: Decision is nil,
// since nothing that answers from the cache reads it.
type Verdict struct {
	Allow bool
	// Reasons say why the image was denied.
	Reasons  []string
	Decision *Decision // without an encoding
	Value    []byte
}

// ErrUndecided means the image could not be decided now (the registry is
// unreachable or throttling, the deadline passed): the caller must deny
// this time and may ask again.
var ErrUndecided = errors.New("cannot verify now")

// Cached answers r from the caches alone, without any registry request:
// its decision still cached, and for a tag its resolution too.
func (e *Engine) Cached(r *Request) (*Verdict, bool) {
	if r.Invalid() != nil || e.shared.decisions == nil {
		return nil, false
	}
	d := r.ref.Digest
	if d == "" {
		desc, ok := e.store.ResolveCached(r.ref)
		if !ok {
			return nil, false
		}
		d = desc.Digest
	}
	// A digest needs no resolution to name its decision: the decision
	// expires no later than the resolution would (decisionTTL).
	v, ok := e.shared.decisions.Get(e.cacheKey(r, d))
	if ok {
		e.observeCache(true)
	}
	return v, ok
}

// Decide is the admission pipeline for one image: resolve once, the
// decision cache, one shared evaluation per cache key, evaluation on the
// engine's own deadline. An error means no verdict: the reference is
// invalid (Request.Invalid), or none could be reached in time
// (ErrUndecided, or ctx's error); a verdict that denies is not an error.
func (e *Engine) Decide(ctx context.Context, r *Request) (*Verdict, error) {
	if err := r.Invalid(); err != nil {
		return nil, err
	}
	if d, ok := e.refuse(r); ok {
		return e.verdict(&d)
	}
	// A digest's decision, or a tag's whose resolution is cached too, needs
	// no registry request.
	if v, ok := e.Cached(r); ok {
		return v, nil
	}
	// One budget for the resolution and the evaluation of this key.
	budget := oras.NewBudget(e.shared.opts.Budget)
	desc, err := e.resolve(oras.WithBudget(ctx, budget), r)
	if err != nil {
		if oras.IsTransient(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %v", ErrUndecided, err)
		}
		// A missing image is a verdict, not an outage; it is not cached,
		// since the image may be pushed a moment later.
		d := r.denied(err.Error())
		return e.verdict(&d)
	}
	key := e.cacheKey(r, desc.Digest)
	if v, ok := e.shared.decisions.Get(key); ok {
		e.observeCache(true)
		return v, nil
	}
	e.observeCache(false)
	ch := e.shared.flight.DoChan(key.String(), func() (any, error) {
		// Its own deadline: the first caller going away must not fail
		// the others that joined this evaluation.
		ectx, cancel := context.WithTimeout(oras.WithBudget(context.WithoutCancel(ctx), budget), e.shared.opts.DecisionTimeout)
		defer cancel()
		d := e.evaluate(ectx, r, desc)
		e.log.LogAttrs(ectx, slog.LevelInfo, "decision", slog.String("traceID", d.TraceID), slog.String("subject", r.Image),
			slog.String("reference", d.Reference), slog.String("namespace", r.Namespace), slog.Bool("allow", d.Allow),
			slog.Any("reasons", d.Reasons), slog.String("policy", d.Policy))
		if d.Transient && !d.Allow {
			return nil, fmt.Errorf("%w (trace %s): %s", ErrUndecided, d.TraceID, strings.Join(d.Reasons, "; "))
		}
		d.Calls = nil // explanations are for Evaluate
		v, err := e.verdict(&d)
		if err == nil && !d.Transient {
			e.shared.decisions.AddTTL(key, v, v.cost(), e.decisionTTL())
		}
		return v, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Verdict), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// resolve resolves r's reference. A digest needs no resolving to be
// listed: when the policy lists referrers and nothing of the image is
// cached, its referrer list (with cosign's tag) is asked for at once with
// the resolution, under the same budget, so that the policy finds it in
// the store's cache one round trip sooner.
func (e *Engine) resolve(ctx context.Context, r *Request) (ocispec.Descriptor, error) {
	if r.ref.Digest == "" || e.subjectTTL <= 0 || !e.policies.forNamespace(r.Namespace).listsReferrers {
		return e.store.Resolve(ctx, r.ref)
	}
	if desc, ok := e.store.ResolveCached(r.ref); ok {
		return desc, nil
	}
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		defer func() { _ = recover() }() // the policy's own listing reports it
		// A failure here is the policy's to meet and report.
		_, _ = e.store.Referrers(ctx, r.ref, "")
	}()
	desc, err := e.store.Resolve(ctx, r.ref)
	<-listed
	return desc, err
}

// decisionKey names everything a verdict depends on: the configuration
// revision; the policy scope (the namespace for user policies, which may
// read it and the reference as written; the Verifiers' scope for compiled
// ones, which read neither); the repository, host and path; the digest. The
// same digest in another repository has other signatures and other
// per-scope keys, so it is another key. A struct of strings the request
// already holds: a cached answer builds no key.
type decisionKey struct {
	revision string
	// user is true for user policies: namespace and tag count.
	user                 bool
	scope                string // the namespace, or the compiled policy's scope
	tag                  string
	registry, repository string
	digest               digest.Digest
}

func (e *Engine) cacheKey(r *Request, d digest.Digest) decisionKey {
	p := e.policies.forNamespace(r.Namespace)
	k := decisionKey{revision: e.revision, scope: p.scope, registry: r.ref.Registry, repository: r.ref.Repository, digest: d}
	if !p.compiled {
		k.user, k.scope, k.tag = true, r.Namespace, r.ref.Tag
	}
	return k
}

// String is the key for the shared evaluation.
func (k decisionKey) String() string {
	return fmt.Sprintf("%s|%t|%s|%s|%s/%s@%s", k.revision, k.user, k.scope, k.tag, k.registry, k.repository, k.digest)
}

// decisionTTL is the life of a cached decision: the configured TTL, never
// longer than the referrer lists it was made from.
func (e *Engine) decisionTTL() time.Duration {
	ttl := e.shared.opts.DecisionCacheTTL
	if e.subjectTTL < 0 {
		return -1
	}
	return min(ttl, e.subjectTTL)
}

// verdict is d with its encoding. An encoded verdict keeps the decision
// without its reports, which are in the encoding: the decision cache holds
// what it answers, not a second copy of every signature's details.
func (e *Engine) verdict(d *Decision) (*Verdict, error) {
	v := &Verdict{Allow: d.Allow, Reasons: d.Reasons, Decision: d}
	if enc := e.shared.opts.Encode; enc != nil {
		b, err := enc(d)
		if err != nil {
			return nil, fmt.Errorf("encoding the decision: %w", err)
		}
		v.Value, v.Decision = b, nil
	}
	return v, nil
}

// cost is what a verdict holds in bytes, with the cache's entry and key
// (decisionKey: about 300 bytes beside the strings it shares).
func (v *Verdict) cost() int64 {
	n := int64(len(v.Value)) + 400
	for _, r := range v.Reasons {
		n += int64(len(r)) + 16
	}
	if d := v.Decision; d != nil {
		n += 256
		for _, r := range d.Reports {
			n += int64(len(r.Message)+len(r.Subject)) + 128*int64(len(r.Signatures)+1)
		}
	}
	return n
}

func (e *Engine) observeCache(hit bool) {
	if f := e.shared.opts.ObserveCache; f != nil {
		f(hit)
	}
}

// Pin resolves r and returns it as written, with its tag replaced by the
// digest it names (`app:v1` becomes `app@sha256:...`), for mutation.
func (e *Engine) Pin(ctx context.Context, r *Request) (string, error) {
	if err := r.Invalid(); err != nil {
		return "", err
	}
	if r.ref.Digest != "" {
		return r.Image, nil
	}
	desc, err := e.store.Resolve(ctx, r.ref)
	if err != nil {
		return "", err
	}
	name := r.Image
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name + "@" + desc.Digest.String(), nil
}
