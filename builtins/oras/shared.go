package oras

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// shared runs fn once for the callers that ask for the same operation on
// the same reference of store c at the same time, on the first caller's
// context (its deadline and budget); the others wait for its answer on
// their own context. An answer that is only the first caller's (its
// deadline passed, its budget ran out) is not taken by the others: each
// of them then asks on its own.
func (s *Store) shared(ctx context.Context, op string, c *configured, ref string, fn func(context.Context) (any, error)) (any, error) {
	ran := false
	ch := s.flight.DoChan(op+"|"+strconv.Itoa(c.index)+"|"+ref, func() (v any, err error) {
		ran = true
		// A panic must not end the process from singleflight's goroutine:
		// it is raised again in each caller's, where it is recovered as
		// any other.
		defer func() {
			if p := recover(); p != nil {
				v, err = nil, &panicked{p}
			}
		}()
		return fn(ctx)
	})
	select {
	case res := <-ch:
		if p, ok := res.Err.(*panicked); ok {
			panic(p.value)
		}
		if res.Err != nil && !ran && ctx.Err() == nil && callersOwn(res.Err) {
			return fn(ctx)
		}
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, wrap(op, ref, ctx.Err())
	}
}

type panicked struct{ value any }

func (p *panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// callersOwn reports whether err belongs to the caller that met it rather
// than to the registry's answer.
func callersOwn(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBudgetExceeded)
}
