package decl

import (
	"context"
	"sync"
)

// Memos holds what families derive from their arguments by pure functions
// (a key's PEM text parsed, a trust policy prepared), for the sessions of
// one engine: every evaluation passes the same arguments again, and
// deriving them can cost more than the verification they serve. Each
// family keeps its own memo under a name of its own, made on first use.
// Entries must be immutable and keyed by everything they derive from, so
// sharing them across configuration revisions is safe.
type Memos struct{ m sync.Map }

// NewMemos returns an empty set of memos.
func NewMemos() *Memos { return &Memos{} }

// Memo is the memo of m named name, made by newMemo the first time. With a
// nil m (a caller that keeps none) it is the zero T: the family's memo
// type must then remember nothing, as a nil *lru.Cache does.
func Memo[T any](m *Memos, name string, newMemo func() T) T {
	var zero T
	if m == nil {
		return zero
	}
	if v, ok := m.m.Load(name); ok {
		return v.(T)
	}
	v, _ := m.m.LoadOrStore(name, newMemo())
	return v.(T)
}

type memosKey struct{}

// WithMemos returns ctx carrying m to the builtins an evaluation under it
// calls.
func WithMemos(ctx context.Context, m *Memos) context.Context {
	return context.WithValue(ctx, memosKey{}, m)
}

// MemosFrom returns the memos ctx carries (nil: none).
func MemosFrom(ctx context.Context) *Memos {
	m, _ := ctx.Value(memosKey{}).(*Memos)
	return m
}
