package cosign

import (
	"context"
	"fmt"
	"sync"
	"time"

	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
)

// Default bounds of a RekorKeys. The TUF client takes no context and uses an
// HTTP client without a timeout, so a call can outlive any admission
// deadline: callers wait at most the timeout, while one fetch at a time
// continues in the background.
const (
	defaultRekorKeysTimeout = 10 * time.Second
	// A failure is remembered briefly, so a burst of verifications during an
	// outage does not queue on the TUF mirror.
	defaultRekorKeysRetryAfter = 30 * time.Second
	// Keys rotate rarely; TUF's own cache still decides freshness.
	defaultRekorKeysTTL = time.Hour
)

// RekorKeys obtains Rekor's public keys with a loader and caches them. It is
// safe for concurrent use; set the bounds before its first use.
type RekorKeys struct {
	// Timeout is how long a caller waits for a fetch.
	Timeout time.Duration
	// RetryAfter is how long a failed fetch is remembered.
	RetryAfter time.Duration
	// TTL is how long fetched keys are reused.
	TTL time.Duration

	load func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error)

	mu        sync.Mutex
	keys      *sigcosign.TrustedTransparencyLogPubKeys
	fetchedAt time.Time
	err       error
	failedAt  time.Time
	inflight  chan struct{} // closed when the running fetch ends
}

// NewRekorKeys returns a cache of the keys load returns, with the default
// bounds (wait 10s, retry after 30s, keep an hour).
func NewRekorKeys(load func(context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error)) *RekorKeys {
	return &RekorKeys{
		Timeout:    defaultRekorKeysTimeout,
		RetryAfter: defaultRekorKeysRetryAfter,
		TTL:        defaultRekorKeysTTL,
		load:       load,
	}
}

// defaultRekorKeys is the process's cache of Rekor's keys from cosign's
// loader (sigstore's TUF root, or the file named by
// SIGSTORE_REKOR_PUBLIC_KEY): public data shared like http.DefaultClient,
// which tests leave alone and replace through Verifier.Rekor.
var defaultRekorKeys = NewRekorKeys(sigcosign.GetRekorPubs)

// tlogUnavailableError means the Rekor keys could not be obtained: an outage
// of the TUF mirror, so the verdict must not be cached.
type tlogUnavailableError struct{ err error }

func (e *tlogUnavailableError) Error() string {
	return "the transparency log could not be verified: Rekor public keys could not be obtained from sigstore's TUF root (" +
		e.err.Error() + "); pass rekorPublicKeys to verify offline, or set tlog: false for signatures made with --tlog-upload=false"
}

// Get returns Rekor's public keys, waiting at most r.Timeout. Its errors are
// *tlogUnavailableError.
func (r *RekorKeys) Get(ctx context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
	r.mu.Lock()
	now := time.Now()
	if r.keys != nil && now.Sub(r.fetchedAt) < r.TTL {
		keys := r.keys
		r.mu.Unlock()
		return keys, nil
	}
	if r.err != nil && now.Sub(r.failedAt) < r.RetryAfter {
		err := r.err
		r.mu.Unlock()
		return nil, &tlogUnavailableError{err}
	}
	if r.inflight == nil {
		done := make(chan struct{})
		r.inflight = done
		go func() {
			keys, err := r.fetch()
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.err, r.failedAt = err, time.Now()
			} else {
				r.keys, r.fetchedAt, r.err = keys, time.Now(), nil
			}
			r.inflight = nil
			close(done)
		}()
	}
	done := r.inflight
	r.mu.Unlock()

	timer := time.NewTimer(r.Timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, &tlogUnavailableError{fmt.Errorf("no answer within %s", r.Timeout)}
	case <-ctx.Done():
		return nil, &tlogUnavailableError{ctx.Err()}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys != nil && r.err == nil {
		return r.keys, nil
	}
	return nil, &tlogUnavailableError{r.err}
}

// fetch runs the loader, turning a panic in it into an error: it runs on its
// own goroutine, beyond Verify's recover.
func (r *RekorKeys) fetch() (keys *sigcosign.TrustedTransparencyLogPubKeys, err error) {
	defer func() {
		if p := recover(); p != nil {
			keys, err = nil, fmt.Errorf("panic loading Rekor keys: %v", p)
		}
	}()
	// The background context: the fetch is shared by every caller and must
	// not be cut short by the first caller's deadline.
	return r.load(context.Background())
}
