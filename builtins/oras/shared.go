package oras

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// inFlight is the operations under way, by key, for shared.
type inFlight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	val  any
	err  error
}

// shared runs fn once for the callers that ask for the same operation on
// the same reference of store c at the same time: the first runs it on its
// own goroutine and context (its deadline and budget), the others wait for
// its answer on their own context. An answer that is only the first
// caller's (its deadline passed, its budget ran out) is not taken by the
// others: each of them then asks on its own. A panic in fn is the first
// caller's; the others ask on their own.
func (s *Store) shared(ctx context.Context, op string, c *configured, ref string, fn func(context.Context) (any, error)) (any, error) {
	key := op + "|" + strconv.Itoa(c.index) + "|" + ref
	f := &s.flight
	f.mu.Lock()
	if cl, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, wrap(op, ref, ctx.Err())
		}
		if cl.err != nil && callersOwn(cl.err) && ctx.Err() == nil {
			return fn(ctx)
		}
		return cl.val, cl.err
	}
	cl := &call{done: make(chan struct{})}
	if f.calls == nil {
		f.calls = map[string]*call{}
	}
	f.calls[key] = cl
	f.mu.Unlock()
	finished := false
	defer func() {
		if !finished {
			cl.err = errPanicked // fn panicked: the others ask on their own
		}
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(cl.done)
	}()
	cl.val, cl.err = fn(ctx)
	finished = true
	return cl.val, cl.err
}

// errPanicked is what the callers waiting on a call that panicked see.
var errPanicked = errors.New("the shared registry operation failed unexpectedly")

// callersOwn reports whether err belongs to the caller that met it rather
// than to the registry's answer.
func callersOwn(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrBudgetExceeded) || errors.Is(err, errPanicked)
}
