package builtins_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins"
	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/internal/memreg"
)

// world is in-memory registry content with one tagged image, and key
// management providers that count their calls.
type world struct {
	content *memreg.Content
	keys    *countingProvider
	reg     *kmp.Registry
	image   ocispec.Descriptor
	tagRef  string // host/repo:tag
	pinRef  string // host/repo@digest
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{keys: &countingProvider{}, reg: kmp.NewRegistry()}
	var err error
	if w.content, w.image, err = memreg.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.reg.AddProvider("", "keys", w.keys); err != nil {
		t.Fatal(err)
	}
	if err := w.reg.AddProvider("team-a", "keys", w.keys); err != nil {
		t.Fatal(err)
	}
	w.tagRef = "registry.example/app:v1"
	w.pinRef = "registry.example/app@" + w.image.Digest.String()
	return w
}

func (w *world) session(scope, revision string, cache *builtins.Cache) *builtins.Session {
	return builtins.NewSession(builtins.Config{Content: w.content, Providers: w.reg, Scope: scope, Revision: revision, Cache: cache})
}

type countingProvider struct{ calls atomic.Int32 }

func (p *countingProvider) Keys(context.Context) ([]kmp.Key, error) {
	p.calls.Add(1)
	return []kmp.Key{{Provider: "keys", Name: "k", Version: "1", Enabled: true, Algorithm: "ECDSA-P256", PEM: "pem"}}, nil
}

func (p *countingProvider) Certificates(context.Context) ([]kmp.Certificate, error) {
	p.calls.Add(1)
	return nil, nil
}

// TestMemo: within one evaluation a call with the same arguments runs once,
// and is recorded once.
func TestMemo(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.session("", "r1", nil)
	ctx := context.Background()
	for range 3 {
		if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, ""}); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.content.Calls("referrers"); n != 1 {
		t.Fatalf("referrers listed %d times, want 1", n)
	}
	if n := len(s.Calls()); n != 1 {
		t.Fatalf("%d calls recorded, want 1", n)
	}
	// Other arguments are another call.
	if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, memreg.SBOM}); err != nil {
		t.Fatal(err)
	}
	if n := w.content.Calls("referrers"); n != 2 {
		t.Fatalf("referrers listed %d times, want 2", n)
	}
}

// TestCache: across evaluations a result is reused only for the same
// revision and scope, and only when its subject is pinned to a digest.
func TestCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name        string
		fn          string
		first, then func(w *world) (scope, revision string, args []any)
		wantCached  bool
	}{
		{
			name:       "pinned subject, same revision",
			fn:         "oras.referrers",
			first:      func(w *world) (string, string, []any) { return "", "r1", []any{w.pinRef, ""} },
			then:       func(w *world) (string, string, []any) { return "", "r1", []any{w.pinRef, ""} },
			wantCached: true,
		},
		{
			name:  "tag subject: a tag can move",
			fn:    "oras.resolve",
			first: func(w *world) (string, string, []any) { return "", "r1", []any{w.tagRef} },
			then:  func(w *world) (string, string, []any) { return "", "r1", []any{w.tagRef} },
		},
		{
			name:  "new revision: a key rotation takes effect",
			fn:    "kmp.keys",
			first: func(w *world) (string, string, []any) { return "", "r1", []any{"keys"} },
			then:  func(w *world) (string, string, []any) { return "", "r2", []any{"keys"} },
		},
		{
			name:       "no subject, same revision and scope",
			fn:         "kmp.keys",
			first:      func(w *world) (string, string, []any) { return "team-a", "r1", []any{"keys"} },
			then:       func(w *world) (string, string, []any) { return "team-a", "r1", []any{"keys"} },
			wantCached: true,
		},
		{
			name:  "another scope sees other providers",
			fn:    "kmp.keys",
			first: func(w *world) (string, string, []any) { return "team-a", "r1", []any{"keys"} },
			then:  func(w *world) (string, string, []any) { return "", "r1", []any{"keys"} },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			cache := builtins.NewCache(100, time.Minute)
			scope, rev, args := c.first(w)
			if _, err := w.session(scope, rev, cache).Call(ctx, c.fn, args); err != nil {
				t.Fatal(err)
			}
			scope, rev, args = c.then(w)
			s := w.session(scope, rev, cache)
			if _, err := s.Call(ctx, c.fn, args); err != nil {
				t.Fatal(err)
			}
			if got := s.Calls()[0].Cached; got != c.wantCached {
				t.Fatalf("second call cached = %v, want %v", got, c.wantCached)
			}
			ran := w.content.Calls("resolve") + w.content.Calls("referrers") + int(w.keys.calls.Load())
			if want := map[bool]int{true: 1, false: 2}[c.wantCached]; ran != want {
				t.Fatalf("the implementation ran %d times, want %d", ran, want)
			}
		})
	}
}

// TestSubjectTTL: results about an image do not outlive the referrer list
// they were made from; a negative TTL caches none of them.
func TestSubjectTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	cache := builtins.NewCache(100, time.Hour)
	for range 2 {
		s := builtins.NewSession(builtins.Config{Content: w.content, Revision: "r", Cache: cache, SubjectTTL: -1})
		if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, ""}); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.content.Calls("referrers"); n != 2 {
		t.Fatalf("referrers listed %d times with SubjectTTL < 0, want 2", n)
	}
	for range 2 {
		s := builtins.NewSession(builtins.Config{Content: w.content, Revision: "r", Cache: cache, SubjectTTL: 20 * time.Millisecond})
		if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, ""}); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.content.Calls("referrers"); n != 3 {
		t.Fatalf("referrers listed %d times, want 3 (the second within its TTL is cached)", n)
	}
	time.Sleep(40 * time.Millisecond)
	s := builtins.NewSession(builtins.Config{Content: w.content, Revision: "r", Cache: cache, SubjectTTL: 20 * time.Millisecond})
	if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, ""}); err != nil {
		t.Fatal(err)
	}
	if n := w.content.Calls("referrers"); n != 4 {
		t.Fatalf("referrers listed %d times, want 4 (expired after its TTL)", n)
	}
}

// TestFailures: a failed call is undefined for the policy and a failed
// report on the decision; a transient one marks the decision transient and
// is never cached, a permanent one is.
func TestFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name          string
		err           error
		wantTransient bool
	}{
		{"unavailable", &oras.Error{Op: "referrers", Ref: "x", Kind: oras.ErrUnavailable}, true},
		{"throttled", &oras.Error{Op: "referrers", Ref: "x", Kind: oras.ErrThrottled}, true},
		{"not found", &oras.Error{Op: "referrers", Ref: "x", Kind: oras.ErrNotFound}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			cache := builtins.NewCache(100, time.Minute)
			w.content.Fail(c.err)
			s := w.session("", "r", cache)
			if _, err := s.Call(ctx, "oras.referrers", []any{w.pinRef, ""}); !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if s.Transient() != c.wantTransient {
				t.Fatalf("Transient() = %v, want %v", s.Transient(), c.wantTransient)
			}
			reps := s.Reports()
			if len(reps) != 1 || reps[0].IsSuccess || reps[0].Verifier != "oras.referrers" || reps[0].Subject != w.pinRef ||
				reps[0].Transient != c.wantTransient || !strings.Contains(reps[0].Message, c.err.Error()) {
				t.Fatalf("reports %+v", reps)
			}
			// Failed calls never enter the cache: a later session asks again.
			w.content.Fail(nil)
			if _, err := w.session("", "r", cache).Call(ctx, "oras.referrers", []any{w.pinRef, ""}); err != nil {
				t.Fatal(err)
			}
			if n := w.content.Calls("referrers"); n != 2 {
				t.Fatalf("referrers listed %d times, want 2", n)
			}
		})
	}
}

// TestVerifierFailureIsAReport: a verification function whose subject
// cannot be resolved returns a failed report, not an error, and a
// transient resolution failure makes that report transient.
func TestVerifierFailureIsAReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	w.content.Fail(&oras.Error{Op: "resolve", Ref: w.tagRef, Kind: oras.ErrUnavailable})
	s := w.session("", "r", nil)
	v, err := s.Call(ctx, "cosign.verify", []any{w.tagRef, map[string]any{"keys": []any{}}})
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["isSuccess"] != false || m["verifier"] != "cosign" || !strings.Contains(m["message"].(string), "cannot resolve the subject") {
		t.Fatalf("value %v", m)
	}
	if !s.Transient() || len(s.Reports()) != 1 || !s.Reports()[0].Transient {
		t.Fatalf("transient %v, reports %+v", s.Transient(), s.Reports())
	}
}

// TestArguments: calls are checked against the declarations before any
// implementation runs.
func TestArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		fn   string
		args []any
		want string
	}{
		{"oras.resolve", []any{}, "takes 1 arguments, got 0"},
		{"oras.resolve", []any{1.0}, "argument 1 (ref): want string, got a number"},
		{"notation.verify", []any{"a/b:c", "opts"}, "argument 2 (opts): want object, got a string"},
		{"kmp.keys", []any{nil}, "want string, got null"},
	}
	for _, c := range cases {
		w := newWorld(t)
		_, err := w.session("", "r", nil).Call(ctx, c.fn, c.args)
		if !errors.Is(err, builtins.ErrBadArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s%v: error %v, want %q", c.fn, c.args, err, c.want)
		}
		if n := w.content.Calls("resolve") + int(w.keys.calls.Load()); n != 0 {
			t.Errorf("%s%v: the implementation ran", c.fn, c.args)
		}
	}
	if _, err := newWorld(t).session("", "r", nil).Call(ctx, "oras.nothing", nil); err == nil || !strings.Contains(err.Error(), `unknown builtin "oras.nothing"`) {
		t.Fatalf("unknown builtin: %v", err)
	}
}

// TestNotConfigured: a family with nothing to work with says so by name.
func TestNotConfigured(t *testing.T) {
	t.Parallel()
	s := builtins.NewSession(builtins.Config{Revision: "r"})
	for _, c := range []struct {
		fn   string
		args []any
	}{
		{"oras.resolve", []any{"registry.example/app:v1"}},
		{"kmp.keys", []any{"keys"}},
	} {
		_, err := s.Call(context.Background(), c.fn, c.args)
		if !errors.Is(err, decl.ErrNotConfigured) || !strings.HasPrefix(err.Error(), c.fn+": not configured") {
			t.Errorf("%s: %v", c.fn, err)
		}
	}
}

// panicking content makes the implementation panic.
type panicking struct{ *memreg.Content }

func (panicking) Resolve(context.Context, oras.Reference) (ocispec.Descriptor, error) {
	panic("boom")
}

// TestPanicIsAnError: a panicking implementation fails the call; the
// server keeps running.
func TestPanicIsAnError(t *testing.T) {
	t.Parallel()
	s := builtins.NewSession(builtins.Config{Content: panicking{memreg.New()}, Revision: "r"})
	_, err := s.Call(context.Background(), "oras.resolve", []any{"registry.example/app:v1"})
	if err == nil || err.Error() != "oras.resolve failed internally: boom" {
		t.Fatalf("error %v", err)
	}
}

// TestPinned: the evaluation's own subject, resolved by the engine, is not
// resolved again by the builtins.
func TestPinned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := w.session("", "r", nil)
	s.Pin(w.pinRef, w.image)
	v, err := s.Call(context.Background(), "oras.resolve", []any{w.pinRef})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(map[string]any)["digest"]; got != w.image.Digest.String() {
		t.Fatalf("digest %v", got)
	}
	if n := w.content.Calls("resolve"); n != 0 {
		t.Fatalf("resolved %d times, want 0", n)
	}
}

// TestConversionOnce: an engine's conversion of a result runs once per
// result, also when the result comes from the cache.
func TestConversionOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cache := builtins.NewCache(100, time.Minute)
	conversions := 0
	convert := func(v any) (any, error) { conversions++; return fmt.Sprint(v), nil }
	for range 3 {
		if _, err := w.session("", "r", cache).CallAs(context.Background(), "kmp.keys", []any{"keys"}, "test", convert); err != nil {
			t.Fatal(err)
		}
	}
	if conversions != 1 {
		t.Fatalf("%d conversions, want 1", conversions)
	}
}

// TestTable: every family is registered, in order, and each declaration is
// complete.
func TestTable(t *testing.T) {
	t.Parallel()
	if got := strings.Join(builtins.Families(), ","); got != "oras,kmp,notation,cosign" {
		t.Fatalf("families %s", got)
	}
	for _, f := range builtins.Table {
		if !strings.HasPrefix(f.Name, f.Family+".") || f.Description == "" || f.ResultDescription == "" || f.Impl == nil {
			t.Errorf("%s: incomplete declaration", f.Name)
		}
		if f.SubjectArg >= len(f.Args) || f.Verifies && f.SubjectArg < 0 {
			t.Errorf("%s: SubjectArg %d of %d arguments", f.Name, f.SubjectArg, len(f.Args))
		}
		if got, ok := builtins.Lookup(f.Name); !ok || got != f {
			t.Errorf("Lookup(%s)", f.Name)
		}
	}
}
