package main

import (
	"fmt"
	"os"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// warmer is one provider's process for the warm phase: started, every
// image verified once, then kept for measurements in rounds, interleaved
// with the other provider's, so that a burst of load on the machine falls
// on both rather than on one.
type warmer struct {
	p      *provider
	f      sample.TLSFiles
	reg    *counting
	set    imageSet
	conc   int
	env    []string
	r      *running
	keys   int    // keys the current process has answered
	broken bool   // the last measurement failed: a new process first
	idle   memory // of the first process, once started, before any request
}

// ready makes sure a primed process is there.
func (w *warmer) ready() error {
	if w.r != nil && !w.broken {
		return nil
	}
	w.close()
	r, err := w.p.start(w.f, w.conc, w.env...)
	if err != nil {
		return err
	}
	if w.idle.now == 0 {
		if w.idle, err = memoryOf(r.pid); err != nil {
			r.stop()
			return err
		}
	}
	if err := w.p.warmUp(r, w.set); err != nil {
		r.stop()
		return err
	}
	if _, err := coldBatches(w.p.name, r, w.reg, w.set.signed); err != nil {
		r.stop()
		return err
	}
	w.r, w.broken, w.keys = r, false, len(w.set.warmUp)+len(w.set.signed)
	return nil
}

func (w *warmer) close() {
	if w.r != nil {
		w.r.stop()
		w.r = nil
	}
}

// measure sends n requests of 10 cached keys with level in flight.
func (w *warmer) measure(level, n int) (warmRun, error) {
	if err := w.ready(); err != nil {
		return warmRun{}, err
	}
	run, err := warmOnce(w.p.name, w.r, w.reg, w.set, level, n)
	if err != nil {
		w.broken = true
		return run, err
	}
	w.keys += run.keys
	return run, nil
}

// topUp sends keys until the process has answered at least total, then
// returns its resident set and the keys it answered.
func (w *warmer) topUp(total int) (mem memory, keys int, err error) {
	if err := w.ready(); err != nil {
		return memory{}, 0, err
	}
	if more := (total - w.keys + 9) / 10; more > 0 {
		if _, err := load(w.r.client, w.r.url, warmBatches(w.set, more), w.conc); err != nil {
			w.broken = true
			return memory{}, 0, w.r.failed(fmt.Errorf("%s: %w", w.p.name, err))
		}
		w.keys += more * 10
	}
	mem, err = memoryOf(w.r.pid)
	return mem, w.keys, err
}

// lane is one warm process and what it measures.
type lane struct {
	w      *warmer
	levels []int
	note   string
	into   func(level int, m warmRun)
}

// warmPhase measures each level in each round on both providers' warm
// processes, then the peak resident set once each has answered o.rssKeys
// keys. Without -log-level, both also have a process logging at warn that
// measures the first level in the same rounds: at info Ratify v1.4.4 logs
// every answer, cached or not, as indented JSON, a cost of its default
// configuration but not of its cache. In each round, every level is
// measured on every process before the next level, the providers' order
// alternating from round to round.
func warmPhase(providers []*provider, f sample.TLSFiles, reg *counting, set imageSet, o peerOptions, res []*peerFigures) error {
	maxConc := 1
	for _, c := range o.inFlight {
		maxConc = max(maxConc, c)
	}
	var lanes []lane
	add := func(env []string, levels []int, note string, into func(i, level int, m warmRun)) {
		for i, p := range providers {
			lanes = append(lanes, lane{w: &warmer{p: p, f: f, reg: reg, set: set, conc: maxConc, env: env},
				levels: levels, note: note, into: func(level int, m warmRun) { into(i, level, m) }})
		}
	}
	for i := range res {
		res[i].warm = make([][]warmRun, len(o.inFlight))
	}
	add(nil, o.inFlight, "", func(i, level int, m warmRun) { res[i].warm[level] = append(res[i].warm[level], m) })
	if o.logLevel == "" {
		for i := range res {
			res[i].quiet = make([][]warmRun, 1)
		}
		add([]string{"RATIFY_LOG_LEVEL=warn"}, o.inFlight[:1], " (logging at warn)", func(i, level int, m warmRun) {
			res[i].quiet[level] = append(res[i].quiet[level], m)
		})
	}
	defer func() {
		for _, l := range lanes {
			l.w.close()
		}
	}()
	for r := 0; r < o.rounds; r++ {
		for li := range o.inFlight {
			for k := range lanes {
				// Lanes come in pairs (ratify, Ratify): odd rounds swap them.
				l := lanes[k^(r%2)]
				if li >= len(l.levels) {
					continue
				}
				level := l.levels[li]
				var m warmRun
				phase := fmt.Sprintf("round %d, warm, %d in flight%s", r+1, level, l.note)
				if err := l.w.p.attempt(phase, func() (err error) { m, err = l.w.measure(level, o.warm); return err }); err != nil {
					return err
				}
				l.into(li, m)
				fmt.Printf("round %d, %s, warm, %d in flight%s: %.0f keys/s, p99 %.2f ms, %.1f µs CPU per key\n",
					r+1, l.w.p.name, level, l.note, m.rate(), ms(percentile(m.lat, 99)), us(m.cpu, m.keys))
			}
		}
	}
	for i := range providers {
		w := lanes[i].w
		err := w.p.attempt("warm, peak resident set", func() (err error) {
			res[i].rss, res[i].rssKeys, err = w.topUp(o.rssKeys)
			res[i].idle = w.idle
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// warmBatches is n requests of 10 signed images, cycling over them.
func warmBatches(set imageSet, n int) [][]string {
	cycle := batches(refs(set.signed), 10)
	out := make([][]string, n)
	for i := range out {
		out[i] = cycle[i%len(cycle)]
	}
	return out
}

// warmCheckEvery: one warm answer in so many is decoded and checked key by
// key (loadWarm).
const warmCheckEvery = 8

// warmOnce sends n requests of 10 cached keys with level in flight.
func warmOnce(name string, r *running, reg *counting, set imageSet, level, n int) (warmRun, error) {
	w := warmRun{conc: level, keys: n * 10}
	cpu0, err := cpuTime(r.pid)
	if err != nil {
		return w, err
	}
	gen0, err := cpuTime(os.Getpid())
	if err != nil {
		return w, err
	}
	before := reg.n.Load()
	start := time.Now()
	if w.lat, err = loadWarm(r.client, r.url, warmBatches(set, n), level, warmCheckEvery); err != nil {
		return w, r.failed(fmt.Errorf("%s: %w", name, err))
	}
	w.elapsed = time.Since(start)
	cpu1, err := cpuTime(r.pid)
	if err != nil {
		return w, err
	}
	gen1, err := cpuTime(os.Getpid())
	if err != nil {
		return w, err
	}
	w.cpu, w.genCPU, w.reqs = cpu1-cpu0, gen1-gen0, reg.n.Load()-before
	return w, nil
}
