package oras

import (
	"time"

	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Whether a registry serves the OCI 1.1 referrers API is a property of the
// registry, not of one repository: it is remembered per host, so that only
// the first image of a host pays the probe, instead of the first image of
// every repository (oras-go remembers it per repository client).
//
// Only the hosts without the API need remembering: a listing asks the API
// first anyway, and that request is the listing itself where the API is
// served. A host that answers it with 404 (not "repository unknown") is
// read through the referrers tag schema for noAPITTL, then asked again,
// since registries are upgraded.
const (
	noAPITTL = 15 * time.Minute
	// maxNoAPIHosts bounds the hosts remembered; a forgotten one is
	// probed again.
	maxNoAPIHosts = 4096
)

// noAPIHosts remembers the dialled hosts seen without the referrers API.
// Safe for concurrent use.
type noAPIHosts struct {
	hosts *lru.Cache[string, struct{}]
}

func newNoAPIHosts() *noAPIHosts {
	return &noAPIHosts{hosts: lru.New[string, struct{}](maxNoAPIHosts, noAPITTL)}
}

// has reports whether host was seen without the API recently.
func (c *noAPIHosts) has(host string) bool {
	_, ok := c.hosts.Get(host)
	return ok
}

// add records that host answered without the API. A host already
// remembered keeps its first sighting's expiry, so it is asked again on
// schedule however often it is read.
func (c *noAPIHosts) add(host string) {
	if !c.has(host) {
		c.hosts.Add(host, struct{}{}, 1)
	}
}
