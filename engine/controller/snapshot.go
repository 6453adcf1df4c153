package controller

import (
	"sort"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// key names one resource.
type key struct{ kind, namespace, name string }

// entry is what was last observed of one resource.
type entry struct {
	kind *kind
	// valid is the last version that passed its checks (nil: none did);
	// it is what is in force.
	valid client.Object
	// generation is that of the version observed last, and err why it was
	// refused (nil: it is valid).
	generation, validGeneration int64
	err                         error
	// material and fetched are a key management provider's keys and
	// certificates, and when they were fetched.
	material *engine.Material
	fetched  time.Time
	// retrying is a failure that may pass (a service throttling or
	// unreachable): the last valid version and material stay in force
	// and the check is retried with backoff.
	retrying error
}

// snapshot is the configuration the controllers observed: one entry per
// resource. It is safe for concurrent use.
type snapshot struct {
	mu      sync.Mutex
	entries map[key]*entry
}

func newSnapshot() *snapshot { return &snapshot{entries: map[key]*entry{}} }

// observe records a version of a resource and the outcome of its checks.
func (s *snapshot) observe(k key, kd *kind, obj client.Object, material *engine.Material, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	if e == nil {
		e = &entry{kind: kd}
		s.entries[k] = e
	}
	e.retrying = nil
	e.generation, e.err = obj.GetGeneration(), err
	if err == nil {
		e.valid, e.validGeneration = obj, obj.GetGeneration()
		e.material, e.fetched = material, time.Now()
	}
}

// retry records a failure that may pass: what was in force stays.
func (s *snapshot) retry(k key, kd *kind, obj client.Object, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	if e == nil {
		e = &entry{kind: kd, generation: obj.GetGeneration()}
		s.entries[k] = e
	}
	e.retrying = err
}

// remove forgets a deleted resource.
func (s *snapshot) remove(k key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, k)
}

// resources are the valid versions of every resource, in a stable order
// (the revision digests them).
func (s *snapshot) resources() *config.Resources {
	s.mu.Lock()
	keys := make([]key, 0, len(s.entries))
	for k, e := range s.entries {
		if e.valid != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	res := &config.Resources{}
	for _, k := range keys {
		res.Add(s.entries[k].valid)
	}
	s.mu.Unlock()
	return res
}

// each calls f with a copy of every entry.
func (s *snapshot) each(f func(key, entry)) {
	s.mu.Lock()
	copies := make(map[key]entry, len(s.entries))
	for k, e := range s.entries {
		copies[k] = *e
	}
	s.mu.Unlock()
	for k, e := range copies {
		f(k, e)
	}
}

// has reports whether a valid resource of one of kinds is named k.
func (s *snapshot) has(namespace, name string, kinds ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kd := range kinds {
		if e := s.entries[key{kd, namespace, name}]; e != nil && e.valid != nil {
			return true
		}
	}
	return false
}
