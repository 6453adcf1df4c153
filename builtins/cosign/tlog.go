package cosign

import (
	"context"
	"fmt"
	"sync"
	"time"

	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
)

// Bounds on obtaining Rekor's public keys from sigstore's TUF root. The TUF
// client takes no context and uses an HTTP client without a timeout, so a
// call can outlive any admission deadline: callers wait at most
// rekorKeysTimeout, while one fetch at a time continues in the background.
var (
	rekorKeysTimeout = 10 * time.Second
	// A failure is remembered briefly, so a burst of verifications during an
	// outage does not queue on the TUF mirror.
	rekorKeysRetryAfter = 30 * time.Second
	// Keys rotate rarely; TUF's own cache still decides freshness.
	rekorKeysTTL = time.Hour
	// getRekorPubs is cosign's loader (TUF root, or the file named by
	// SIGSTORE_REKOR_PUBLIC_KEY).
	getRekorPubs = sigcosign.GetRekorPubs
)

var rekorKeys struct {
	mu        sync.Mutex
	keys      *sigcosign.TrustedTransparencyLogPubKeys
	fetchedAt time.Time
	err       error
	failedAt  time.Time
	inflight  chan struct{} // closed when the running fetch ends
}

// tlogUnavailableError means the Rekor keys could not be obtained: an outage
// of the TUF mirror, so the verdict must not be cached.
type tlogUnavailableError struct{ err error }

func (e *tlogUnavailableError) Error() string {
	return "the transparency log could not be verified: Rekor public keys could not be obtained from sigstore's TUF root (" +
		e.err.Error() + "); pass rekorPublicKeys to verify offline, or set tlog: false for signatures made with --tlog-upload=false"
}

// rekorPublicKeys returns Rekor's public keys from sigstore's TUF root,
// waiting at most rekorKeysTimeout.
func rekorPublicKeys(ctx context.Context) (*sigcosign.TrustedTransparencyLogPubKeys, error) {
	s := &rekorKeys
	s.mu.Lock()
	now := time.Now()
	if s.keys != nil && now.Sub(s.fetchedAt) < rekorKeysTTL {
		keys := s.keys
		s.mu.Unlock()
		return keys, nil
	}
	if s.err != nil && now.Sub(s.failedAt) < rekorKeysRetryAfter {
		err := s.err
		s.mu.Unlock()
		return nil, &tlogUnavailableError{err}
	}
	if s.inflight == nil {
		done := make(chan struct{})
		s.inflight = done
		go func() {
			keys, err := fetchRekorPubs()
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.err, s.failedAt = err, time.Now()
			} else {
				s.keys, s.fetchedAt, s.err = keys, time.Now(), nil
			}
			s.inflight = nil
			close(done)
		}()
	}
	done := s.inflight
	s.mu.Unlock()

	timer := time.NewTimer(rekorKeysTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, &tlogUnavailableError{fmt.Errorf("no answer within %s", rekorKeysTimeout)}
	case <-ctx.Done():
		return nil, &tlogUnavailableError{ctx.Err()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil && s.err == nil {
		return s.keys, nil
	}
	return nil, &tlogUnavailableError{s.err}
}

// fetchRekorPubs runs cosign's loader, turning a panic in it into an error:
// it runs on its own goroutine, beyond Verify's recover.
func fetchRekorPubs() (keys *sigcosign.TrustedTransparencyLogPubKeys, err error) {
	defer func() {
		if r := recover(); r != nil {
			keys, err = nil, fmt.Errorf("panic loading Rekor keys: %v", r)
		}
	}()
	// The background context: the fetch is shared by every caller and must
	// not be cut short by the first caller's deadline.
	return getRekorPubs(context.Background())
}
