// Package wait polls for a condition in tests that watch real components
// (an API server, Gatekeeper, a provider process) reach a state.
package wait

import (
	"testing"
	"time"
)

// Interval is how often For checks.
const Interval = 100 * time.Millisecond

// For calls check every Interval until it returns "" and returns how long
// that took; past limit it fails the test with what and check's last
// answer (what is still wrong).
func For(t testing.TB, limit time.Duration, what string, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not so after %s: %s", what, limit, msg)
		}
		time.Sleep(Interval)
	}
}
