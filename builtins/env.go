package builtins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Cache holds builtin results across evaluations, keyed by function,
// arguments, policy scope and configuration revision: a key rotation is a
// new revision, so it takes effect on the next evaluation.
type Cache struct {
	c   *lru.Cache[string, result]
	ttl time.Duration
}

// NewCache bounds the cache to entries results, each kept for ttl at most
// (results about an image: see Env.SubjectTTL).
func NewCache(entries int64, ttl time.Duration) *Cache {
	return &Cache{c: lru.New[string, result](entries, ttl), ttl: ttl}
}

// result is a builtin's value, with its report decoded once for
// verification functions.
type result struct {
	val any
	rep *report.Report
	err error
	// conv holds the value converted for an engine (an OPA term, a CEL
	// value), so a cached result is converted once, not per evaluation.
	conv *sync.Map
}

// Call is one builtin invocation, for explanations.
type Call struct {
	Name   string `json:"name"`
	Args   []any  `json:"args"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	Cached bool   `json:"cached,omitempty"`
}

// Env is what builtins see during one evaluation. It is created per
// evaluation; the Store, KMP registry and Cache are shared.
type Env struct {
	Store *oras.Store
	KMP   *kmp.Registry
	// Scope is the namespace of the policy evaluated ("" for cluster-wide):
	// it decides which key management providers are visible.
	Scope string
	// Revision identifies the configuration; it is part of cache keys.
	Revision string
	Cache    *Cache
	// Observe, when set, is told of every builtin call that ran (not of
	// memoized ones): for metrics.
	Observe func(name string, d time.Duration, success, cached bool)
	// SubjectTTL bounds how long a result that depends on an image (its
	// resolution, its referrers, their verification) is reused across
	// evaluations: zero means oras.DefaultReferrersTTL, negative not at
	// all. A result must not outlive the referrer list it was made from, or
	// an image signed after its first denial stays denied, and a deleted
	// signature keeps passing.
	SubjectTTL time.Duration

	// pinned is the evaluation's subject, resolved once by the engine.
	pinnedRef  string
	pinnedDesc ocispec.Descriptor

	mu        sync.Mutex
	memo      map[string]result
	reports   []report.Report
	calls     []Call
	transient bool
}

// NewEnv returns an evaluation environment.
func NewEnv(store *oras.Store, reg *kmp.Registry, scope, revision string, cache *Cache) *Env {
	return &Env{Store: store, KMP: reg, Scope: scope, Revision: revision, Cache: cache, memo: map[string]result{}}
}

// Pin records that ref (pinned to a digest) resolves to desc, so the
// builtins verifying it do not resolve it again.
func (e *Env) Pin(ref string, desc ocispec.Descriptor) {
	e.pinnedRef, e.pinnedDesc = ref, desc
}

// pinned returns the descriptor ref was pinned to, if it was.
func (e *Env) pinned(ref string) (ocispec.Descriptor, bool) {
	if ref != "" && ref == e.pinnedRef {
		return e.pinnedDesc, true
	}
	return ocispec.Descriptor{}, false
}

type envKey struct{}

// WithEnv attaches env to ctx, for engines whose builtins receive only a context.
func WithEnv(ctx context.Context, env *Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// EnvFrom returns the Env attached to ctx.
func EnvFrom(ctx context.Context) (*Env, bool) {
	env, ok := ctx.Value(envKey{}).(*Env)
	return env, ok
}

// ErrBadArgument is returned for arguments of the wrong type.
var ErrBadArgument = errors.New("bad argument")

// Call runs the builtin named name with JSON-like args. Within one
// evaluation a call with the same arguments runs once; across evaluations
// results are served from the Cache unless they were transient failures.
// A verification function always returns a report (failures included); the
// others return an error that the engine turns into an undefined result,
// and that error is recorded as a failed report so the decision says why.
func (e *Env) Call(ctx context.Context, name string, args []any) (any, error) {
	return e.CallAs(ctx, name, args, "", nil)
}

// CallAs is Call with the result converted by convert, an engine's
// conversion to its own value type, named kind; conversions of a cached
// result are themselves cached. convert must return immutable values.
func (e *Env) CallAs(ctx context.Context, name string, args []any, kind string, convert func(any) (any, error)) (any, error) {
	res, err := e.call(ctx, name, args)
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

func (e *Env) call(ctx context.Context, name string, args []any) (res result, err error) {
	f, ok := Lookup(name)
	if !ok {
		return res, fmt.Errorf("unknown builtin %q", name)
	}
	if len(args) != len(f.Args) {
		return res, fmt.Errorf("%w: %s takes %d arguments, got %d", ErrBadArgument, name, len(f.Args), len(args))
	}
	for i, a := range f.Args {
		if err := checkType(a.Type, args[i]); err != nil {
			return res, fmt.Errorf("%w: %s argument %d (%s): %v", ErrBadArgument, name, i+1, a.Name, err)
		}
	}
	key := callKey(name, args)
	e.mu.Lock()
	if m, ok := e.memo[key]; ok {
		e.mu.Unlock()
		return m, m.err
	}
	e.mu.Unlock()

	cacheable := e.Cache != nil && (f.SubjectArg < 0 || pinned(args[f.SubjectArg]))
	ckey := e.Revision + "|" + e.Scope + "|" + key
	cached := false
	if cacheable {
		res, cached = e.Cache.c.Get(ckey)
	}
	start := time.Now()
	if !cached {
		res.val, res.err = e.invoke(ctx, f, args)
		res.conv = &sync.Map{}
		if res.err == nil && f.Verifies {
			r := fromValue(res.val)
			res.rep = &r
		}
	}
	val, err := res.val, res.err
	transient := err != nil && oras.IsTransient(err)
	if res.rep != nil {
		transient = res.rep.Transient
	}
	if cacheable && !cached && !transient && err == nil {
		ttl := e.Cache.ttl
		if f.SubjectArg >= 0 {
			ttl = e.SubjectTTL
			if ttl == 0 {
				ttl = oras.DefaultReferrersTTL
			}
			ttl = min(ttl, e.Cache.ttl)
		}
		e.Cache.c.AddTTL(ckey, res, 1, ttl)
	}
	if e.Observe != nil {
		ok := err == nil && (res.rep == nil || res.rep.IsSuccess)
		e.Observe(name, time.Since(start), ok, cached)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.memo[key] = res
	e.transient = e.transient || transient
	call := Call{Name: name, Args: args, Result: val, Cached: cached}
	switch {
	case res.rep != nil:
		e.reports = append(e.reports, *res.rep)
	case err != nil:
		call.Error = err.Error()
		subject := ""
		if f.SubjectArg >= 0 {
			subject, _ = args[f.SubjectArg].(string)
		}
		r := report.Failure(name, subject, err.Error())
		r.Transient = transient
		e.reports = append(e.reports, r)
	}
	e.calls = append(e.calls, call)
	return res, err
}

// invoke runs the implementation; a panic becomes an error, never a crash.
func (e *Env) invoke(ctx context.Context, f *Func, args []any) (val any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s failed internally: %v", f.Name, p)
		}
	}()
	if e.Store == nil && f.Family != "kmp" || e.KMP == nil && f.Family == "kmp" {
		return nil, fmt.Errorf("%s: not configured (no store or key management providers)", f.Name)
	}
	return f.impl(ctx, e, args)
}

// Reports are the reports recorded so far, in call order.
func (e *Env) Reports() []report.Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]report.Report{}, e.reports...)
}

// Calls are the builtin calls made so far, in order.
func (e *Env) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// Transient reports whether any call failed for a reason that may pass on
// retry; such a decision must not be cached.
func (e *Env) Transient() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.transient
}

func pinned(arg any) bool {
	s, _ := arg.(string)
	return strings.Contains(s, "@sha256:") || strings.Contains(s, "@sha512:")
}

func checkType(t Type, v any) error {
	ok := false
	switch t {
	case String:
		_, ok = v.(string)
	case Object:
		_, ok = v.(map[string]any)
	case Array:
		_, ok = v.([]any)
	default:
		ok = true
	}
	if !ok {
		return fmt.Errorf("want %s, got %s", t, typeName(v))
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "number"
}

// callKey is name and a digest of a canonical encoding of args (map keys
// sorted, every value length-prefixed so no two argument lists collide).
func callKey(name string, args []any) string {
	h := sha256.New()
	buf := make([]byte, 0, 512)
	for _, a := range args {
		buf = appendCanonical(buf, a)
	}
	h.Write(buf)
	return name + "|" + hex.EncodeToString(h.Sum(nil))
}

func appendCanonical(buf []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(buf, 'n')
	case bool:
		if v {
			return append(buf, 't')
		}
		return append(buf, 'f')
	case string:
		buf = append(buf, 's')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		return append(buf, v...)
	case float64:
		buf = append(buf, 'd')
		buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		return append(buf, ';')
	case json.Number:
		buf = append(buf, 'd')
		buf = append(buf, v...)
		return append(buf, ';')
	case []any:
		buf = append(buf, '[')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		for _, x := range v {
			buf = appendCanonical(buf, x)
		}
		return buf
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf = append(buf, '{')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		for _, k := range keys {
			buf = appendCanonical(buf, k)
			buf = appendCanonical(buf, v[k])
		}
		return buf
	default:
		// Other numbers: their JSON form.
		b, _ := json.Marshal(v)
		buf = append(buf, 'j')
		buf = strconv.AppendInt(buf, int64(len(b)), 10)
		buf = append(buf, ':')
		return append(buf, b...)
	}
}

// toValue converts a Go value to its JSON-like form.
func toValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

func fromValue(v any) report.Report {
	var r report.Report
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &r)
	return r
}
