package builtins

import (
	"context"
	"errors"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

// ErrBadArgument is returned for arguments of the wrong type or number.
var ErrBadArgument = errors.New("bad argument")

// Config is what a session runs on; the Content, Providers and Cache are
// shared by every session of a configuration.
type Config struct {
	// Content is the registries (nil: no store configured).
	Content oras.Content
	// Providers is the key management providers (nil: none configured).
	Providers kmp.Source
	// Scope is the namespace of the policy evaluated ("" for cluster-wide):
	// it decides which key management providers are visible.
	Scope string
	// Revision identifies the configuration; it is part of cache keys.
	Revision string
	// Cache, when set, keeps results across sessions.
	Cache *Cache
	// Memos, when set, keeps what families derive from their arguments
	// (parsed keys, prepared trust policies) across sessions: see
	// decl.Memos. Implementations find it in their context.
	Memos *decl.Memos
	// Observe, when set, is told of every builtin call that ran or came
	// from the cache (not of memoized ones): for metrics.
	Observe func(name string, d time.Duration, success, cached bool)
	// SubjectTTL bounds how long a result that depends on an image (its
	// resolution, its referrers, their verification) is reused across
	// evaluations: zero means oras.DefaultReferrersTTL, negative not at
	// all. A result must not outlive the referrer list it was made from, or
	// an image signed after its first denial stays denied, and a deleted
	// signature keeps passing.
	SubjectTTL time.Duration
}

// Session is one evaluation's view of the builtins: what implementations
// see (it implements oras.Session and kmp.Session), and what the decision
// reports afterwards (Reports, Calls, Transient).
type Session struct {
	cfg Config
	// The evaluation's subject, resolved once by the engine.
	pinnedRef  string
	pinnedDesc ocispec.Descriptor
	memo       memo
}

// NewSession returns a session for one evaluation.
func NewSession(cfg Config) *Session {
	return &Session{cfg: cfg}
}

// Scope implements decl.Session.
func (s *Session) Scope() string { return s.cfg.Scope }

// Content implements oras.Session.
func (s *Session) Content() oras.Content { return s.cfg.Content }

// Providers implements kmp.Session.
func (s *Session) Providers() kmp.Source { return s.cfg.Providers }

// Pin records that ref (pinned to a digest) resolves to desc, so the
// builtins verifying it do not resolve it again.
func (s *Session) Pin(ref string, desc ocispec.Descriptor) {
	s.pinnedRef, s.pinnedDesc = ref, desc
}

// Pinned implements decl.Session.
func (s *Session) Pinned(ref string) (ocispec.Descriptor, bool) {
	if ref != "" && ref == s.pinnedRef {
		return s.pinnedDesc, true
	}
	return ocispec.Descriptor{}, false
}

type sessionKey struct{}

// WithSession attaches s to ctx, for engines whose builtins receive only a
// context (OPA).
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the Session attached to ctx.
func SessionFrom(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok
}

// Call is one builtin invocation, for explanations.
type Call struct {
	Name   string `json:"name"`
	Args   []any  `json:"args"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	Cached bool   `json:"cached,omitempty"`
}

// Call runs the builtin named name with JSON-like args, through the memo
// and the cache (see the package comment). A verification function always
// returns a report's value (failures included); the others return an error
// that the engine turns into an undefined result, and that error is
// recorded as a failed report so the decision says why.
func (s *Session) Call(ctx context.Context, name string, args []any) (any, error) {
	return s.CallAs(ctx, name, args, "", nil)
}

// CallAs is Call with the result converted by convert, an engine's
// conversion to its own value type, named kind; conversions of a cached
// result are themselves cached. convert must return immutable values.
func (s *Session) CallAs(ctx context.Context, name string, args []any, kind string, convert func(any) (any, error)) (any, error) {
	res, err := s.call(ctx, name, args)
	if err != nil || convert == nil {
		return res.val, err
	}
	if v, ok := res.conv.Load(kind); ok {
		return v, nil
	}
	v, err := convert(res.val)
	if err != nil {
		return nil, err
	}
	res.conv.Store(kind, v)
	return v, nil
}

var noResult = &result{}

func (s *Session) call(ctx context.Context, name string, args []any) (*result, error) {
	f, ok := Lookup(name)
	if !ok {
		return noResult, fmt.Errorf("unknown builtin %q", name)
	}
	if err := checkArgs(f, args); err != nil {
		return noResult, err
	}
	key := callKey(name, args)
	if res, ok := s.memo.get(key); ok {
		return res, res.err
	}

	cacheable := s.cfg.Cache != nil && (f.SubjectArg < 0 || pinnedArg(args[f.SubjectArg]))
	ckey := s.cfg.Revision + "|" + s.cfg.Scope + "|" + key
	start := time.Now()
	res, cached := (*result)(nil), false
	if cacheable {
		res, cached = s.cfg.Cache.get(ckey)
	}
	if !cached {
		res = s.invoke(ctx, f, args)
		if cacheable && res.err == nil && !res.transient() {
			s.cfg.Cache.add(ckey, res, s.ttl(f))
		}
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(name, time.Since(start), res.err == nil && (res.rep == nil || res.rep.IsSuccess), cached)
	}

	call := Call{Name: name, Args: args, Result: res.val, Cached: cached}
	rep := res.rep
	if res.err != nil {
		call.Error = res.err.Error()
		subject := ""
		if f.SubjectArg >= 0 {
			subject, _ = args[f.SubjectArg].(string)
		}
		r := report.Failure(name, subject, res.err.Error())
		r.Transient = res.transient()
		rep = &r
	}
	s.memo.record(key, res, rep, call)
	return res, res.err
}

// ttl is how long f's result may be cached.
func (s *Session) ttl(f *Func) time.Duration {
	if f.SubjectArg < 0 {
		return s.cfg.Cache.ttl
	}
	if s.cfg.SubjectTTL == 0 {
		return oras.DefaultReferrersTTL
	}
	return s.cfg.SubjectTTL
}

// invoke runs the implementation; a panic becomes an error, never a crash.
func (s *Session) invoke(ctx context.Context, f *Func, args []any) (res *result) {
	res = &result{}
	defer func() {
		if p := recover(); p != nil {
			res = &result{err: fmt.Errorf("%s failed internally: %v", f.Name, p)}
		}
	}()
	if s.cfg.Memos != nil {
		ctx = decl.WithMemos(ctx, s.cfg.Memos)
	}
	val, err := f.Impl(ctx, s, args)
	if err != nil {
		if errors.Is(err, decl.ErrNotConfigured) {
			err = fmt.Errorf("%s: %w", f.Name, err)
		}
		res.err = err
		return res
	}
	if r, ok := val.(report.Report); ok {
		res.rep, res.val = &r, r.Value()
		return res
	}
	res.val = val
	return res
}

// Reports are the reports recorded so far, in call order.
func (s *Session) Reports() []report.Report {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return append([]report.Report{}, s.memo.reports...)
}

// Calls are the builtin calls made so far, in order.
func (s *Session) Calls() []Call {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return append([]Call(nil), s.memo.calls...)
}

// Transient reports whether any call failed for a reason that may pass on
// retry; such a decision must not be cached.
func (s *Session) Transient() bool {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return s.memo.transient
}

func isTransient(err error) bool { return oras.IsTransient(err) }
