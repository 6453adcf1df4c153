package builtins

import (
	"sync"

	"github.com/seed-12b584bc/ratify/builtins/report"
)

// memo is one evaluation's record of its calls: each distinct call runs
// once, and the reports and calls a decision shows are collected here in
// call order.
type memo struct {
	mu        sync.Mutex
	results   map[string]*result
	reports   []report.Report
	calls     []Call
	transient bool
}

func (m *memo) get(key string) (*result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[key]
	return r, ok
}

// record stores the outcome of a call that ran (or came from the cache),
// with the report it adds to the decision, if any.
func (m *memo) record(key string, res *result, rep *report.Report, call Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		m.results = map[string]*result{}
	}
	m.results[key] = res
	m.transient = m.transient || res.transient()
	if rep != nil {
		m.reports = append(m.reports, *rep)
	}
	m.calls = append(m.calls, call)
}
