package engine

import (
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// subjectTTL is the shortest referrer TTL of the stores: what a Store
// configures, longer or shorter than the default, bounds every cache of a
// result derived from referrers.
func TestSubjectTTL(t *testing.T) {
	for _, c := range []struct {
		ttls []time.Duration
		want time.Duration
	}{
		{nil, oras.DefaultReferrersTTL},
		{[]time.Duration{0}, oras.DefaultReferrersTTL},
		{[]time.Duration{time.Hour}, time.Hour},
		{[]time.Duration{2 * time.Second}, 2 * time.Second},
		{[]time.Duration{time.Hour, 0}, oras.DefaultReferrersTTL},
		{[]time.Duration{time.Hour, 30 * time.Second}, 30 * time.Second},
		{[]time.Duration{time.Hour, -1}, -1},
	} {
		var cfgs []oras.Config
		for _, ttl := range c.ttls {
			cfgs = append(cfgs, oras.Config{ReferrersTTL: ttl})
		}
		if got := subjectTTL(cfgs); got != c.want {
			t.Errorf("subjectTTL(%v) = %v, want %v", c.ttls, got, c.want)
		}
	}
}
