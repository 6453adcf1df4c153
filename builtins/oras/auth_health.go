package oras

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// maxAuthFailures bounds the failing registry hosts a store remembers: a
// pod author can name any host an auth provider is bound to (any
// *.azurecr.io), and must not grow ratify's memory with it.
const maxAuthFailures = 8

// authHealth is what a store's auth provider last observed of its token
// exchanges, for the Store's status: per registry host (and "" for the
// identity's own token), the last failure, until a success clears it.
// Verifications that needed the failing credential are denied with the
// same error; this says so where an operator looks (kubectl get store).
type authHealth struct {
	mu     sync.Mutex
	failed map[string]authFailure
	seq    uint64 // orders failures (times can tie)
}

type authFailure struct {
	err error
	at  time.Time
	seq uint64
}

// report records the outcome of an exchange for host.
func (h *authHealth) report(host string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.failed, host)
		return
	}
	if h.failed == nil {
		h.failed = map[string]authFailure{}
	}
	if _, known := h.failed[host]; !known && len(h.failed) >= maxAuthFailures {
		// Forget the oldest: the newest failures are the ones to show.
		oldest := ""
		for k, f := range h.failed {
			if oldest == "" || f.seq < h.failed[oldest].seq {
				oldest = k
			}
		}
		delete(h.failed, oldest)
	}
	if f, known := h.failed[host]; known && f.err.Error() == err.Error() {
		// The same answer again: the status keeps saying since when, and
		// is not rewritten at every admission that meets it.
		return
	}
	h.seq++
	h.failed[host] = authFailure{err: err, at: time.Now(), seq: h.seq}
}

// errAuth is the error of a store whose credentials could not be had;
// nil when the last exchange for every host succeeded (or none was made).
func (h *authHealth) errAuth() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failed) == 0 {
		return nil
	}
	hosts := make([]string, 0, len(h.failed))
	for k := range h.failed {
		hosts = append(hosts, k)
	}
	// The identity's token first (it fails every registry), then the
	// newest failure.
	sort.Slice(hosts, func(i, j int) bool {
		if (hosts[i] == "") != (hosts[j] == "") {
			return hosts[i] == ""
		}
		return h.failed[hosts[i]].seq > h.failed[hosts[j]].seq
	})
	errs := make([]error, 0, len(hosts))
	for _, k := range hosts {
		f := h.failed[k]
		errs = append(errs, fmt.Errorf("%w (since %s; verifications that need a token from it are denied until an exchange succeeds)",
			f.err, f.at.UTC().Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

// AuthError is the error of the configured store named name when its auth
// provider's last exchange with the identity or with some registry
// failed; nil when all succeeded, none was made, or the store has no
// provider that exchanges tokens.
func (s *Store) AuthError(name string) error {
	for _, c := range s.stores {
		if b, ok := c.backend.(*remoteBackend); ok && c.cfg.Name == name {
			return b.health.errAuth()
		}
	}
	return nil
}
