package oras

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Sentinel errors. Every error the store returns wraps exactly one of them,
// so callers can tell a permanent failure (the content is not there, or is
// wrong) from a transient one (try again later) with errors.Is. Those
// oras-go has a word for are oras-go's own (errdef), so that a caller may
// test for either, and oras-go's functions (ExtendedCopyGraph over a
// Repository) see what they expect.
var (
	// ErrInvalidReference: the reference cannot be parsed. Permanent.
	ErrInvalidReference = errdef.ErrInvalidReference
	// ErrNotFound: the repository, tag, manifest or blob does not exist. Permanent.
	ErrNotFound = errdef.ErrNotFound
	// ErrUnauthorized: the registry refused the credentials (401/403). Permanent
	// until the configuration changes.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrThrottled: the registry kept answering 429 after bounded retries. Transient.
	ErrThrottled = errors.New("throttled by registry")
	// ErrUnavailable: 5xx, connection failure or timeout. Transient.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrDigestMismatch: the bytes served do not match their digest. Permanent.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge: the content exceeds the store's size limit. Permanent.
	ErrTooLarge = errdef.ErrSizeExceedsLimit
	// ErrNoStore: no configured store serves the reference. Permanent.
	ErrNoStore = errors.New("no store serves the reference")
)

// ErrBudgetExceeded (budget.go) is a sentinel of the same kind: the
// decision's registry budget is spent. Permanent.

// Error is a store failure: what was attempted, on which reference, the
// sentinel kind and the underlying cause.
type Error struct {
	Op   string // "resolve", "referrers", "fetch"
	Ref  string
	Kind error // one of the sentinels above, or ErrBudgetExceeded
	Err  error // the cause, possibly nil
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Kind)
	if e.Err != nil && e.Err.Error() != e.Kind.Error() {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes both the sentinel and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// IsTransient reports whether err is worth retrying later: throttling,
// unavailability or a timeout. Anything else is a permanent answer about the
// content and may be cached.
func IsTransient(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)
}

// wrap classifies err from oras-go or net/http into an *Error.
func wrap(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	var be *budgetError
	if errors.As(err, &be) {
		// The budget's own message says what to do; oras-go's wrapping adds only a URL.
		return &Error{Op: op, Ref: ref, Kind: ErrBudgetExceeded, Err: be}
	}
	return &Error{Op: op, Ref: ref, Kind: classify(err), Err: err}
}

func classify(err error) error {
	if errors.Is(err, ErrBudgetExceeded) {
		return ErrBudgetExceeded
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return ErrNotFound
		case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
			return ErrUnauthorized
		case resp.StatusCode == http.StatusTooManyRequests:
			return ErrThrottled
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout:
			return ErrUnavailable
		}
	}
	var netErr net.Error
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound), errors.Is(err, ErrUnauthorized):
		return ErrUnauthorized
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrInvalidReference):
		return ErrInvalidReference
	case errors.Is(err, content.ErrMismatchedDigest), errors.Is(err, content.ErrTrailingData):
		return ErrDigestMismatch
	case errors.Is(err, ErrTooLarge):
		return ErrTooLarge
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF),
		errors.As(err, &netErr):
		return ErrUnavailable
	}
	// A registry that answered something we cannot use (bad headers, a
	// content-type mismatch, an unparsable body) is reported as unavailable:
	// the request may succeed against a healthy replica, and admitting on it
	// is never an option.
	return ErrUnavailable
}
