package oras

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Per-decision budget defaults.
const (
	DefaultBudgetRequests       = 64
	DefaultBudgetBytes    int64 = 64 << 20
)

// ErrBudgetExceeded: the decision's registry budget (Budget) is spent.
// Permanent for that decision: the same image asks for the same work again.
var ErrBudgetExceeded = errors.New("per-decision registry budget exceeded")

// Limits of a Budget. Zero fields take the defaults (DefaultBudgetRequests
// registry requests, DefaultBudgetBytes of response bodies); a negative
// field lifts that limit.
type Limits struct {
	Requests int
	Bytes    int64
}

// Budget bounds what one decision may fetch from registries: the HTTP
// requests the store makes (every attempt, token requests included) and
// the bytes of their responses. Answers from the store's caches cost
// nothing. Safe for concurrent use.
type Budget struct {
	limits Limits

	mu       sync.Mutex
	requests int
	bytes    int64
	spent    bool
}

// NewBudget returns a budget with the limits l.
func NewBudget(l Limits) *Budget {
	if l.Requests == 0 {
		l.Requests = DefaultBudgetRequests
	}
	if l.Bytes == 0 {
		l.Bytes = DefaultBudgetBytes
	}
	return &Budget{limits: l}
}

type budgetKey struct{}

// WithBudget returns ctx carrying b: store operations under ctx charge it.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

func budgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// budgetError is the cause of an ErrBudgetExceeded failure.
type budgetError struct {
	limits Limits
}

func (e *budgetError) Error() string {
	req, size := "unlimited requests", "unlimited bytes"
	if e.limits.Requests > 0 {
		req = fmt.Sprintf("%d registry requests", e.limits.Requests)
	}
	if e.limits.Bytes > 0 {
		size = formatBytes(e.limits.Bytes)
	}
	return fmt.Sprintf("%s / %s per decision; the image has more signatures and other artifacts "+
		"(or larger ones) than one admission decision may read: delete stale artifacts from the registry, "+
		"or raise the per-decision budget", req, size)
}

func (e *budgetError) Is(target error) bool { return target == ErrBudgetExceeded }

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (b *Budget) exceeded() error {
	b.spent = true
	return &budgetError{limits: b.limits}
}

// request charges one registry request, refused once the budget is spent.
func (b *Budget) request() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent || (b.limits.Requests > 0 && b.requests >= b.limits.Requests) {
		return b.exceeded()
	}
	b.requests++
	return nil
}

// read charges n bytes received.
func (b *Budget) read(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes += n
	if b.limits.Bytes > 0 && b.bytes > b.limits.Bytes {
		return b.exceeded()
	}
	return nil
}

// affords reports, without charging, whether n more bytes fit.
func (b *Budget) affords(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent || (b.limits.Bytes > 0 && b.bytes+n > b.limits.Bytes) {
		return b.exceeded()
	}
	return nil
}

// isSpent reports whether an operation was refused for the budget.
func (b *Budget) isSpent() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// budgetTransport charges the budget in each request's context for the
// request and for the bytes of its response body. It sits below the retry
// transport, so every attempt counts, and its refusal is not retried.
type budgetTransport struct {
	next http.RoundTripper
}

func (t budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := budgetFrom(req.Context())
	if b == nil {
		return t.next.RoundTrip(req)
	}
	if err := b.request(); err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if req.Method != http.MethodHead && resp.ContentLength > 0 {
		if err := b.affords(resp.ContentLength); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	resp.Body = &budgetBody{ReadCloser: resp.Body, b: b}
	return resp, nil
}

type budgetBody struct {
	io.ReadCloser
	b *Budget
}

func (r *budgetBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		if berr := r.b.read(int64(n)); berr != nil {
			return n, berr
		}
	}
	return n, err
}
