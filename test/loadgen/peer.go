package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// peerOptions are `loadgen peer`'s flags.
type peerOptions struct {
	ratify, peer     string
	signed, unsigned int
	rounds           int
	warm             int
	inFlight         []int
	rssKeys          int
	logLevel         string
	keep             bool
	out              string
}

// imageSet is the images of a run by role.
type imageSet struct {
	signed []image // measured, notation and cosign alternating
	warmUp []image // verified first on each process, unmeasured
	denied []image // the check's other half: unsigned and untrusted
	all    int
}

// peerMain measures ratify and Ratify v1.4.4 one after the other against
// one distribution registry (the tag schema: no referrers API) holding
// images signed by the real notation and cosign CLIs:
//
//   - check: every image's verdict, from both (a peer that admits the
//     untrusted images or denies the signed ones makes the figures
//     meaningless, so the run stops);
//   - cold, sequential, 1 and then 10 keys a request, each round on a new
//     process (images/s, latency, provider CPU and registry requests per
//     verification), the providers' order alternating between rounds;
//   - warm, 10 keys a request at each -in-flight level (keys/s, p50/p99,
//     provider CPU per key, registry requests);
//   - the peak resident set (VmHWM) of the warm process once it has
//     answered -rss-keys keys.
func peerMain(args []string) error {
	var o peerOptions
	fs := flag.NewFlagSet("loadgen peer", flag.ExitOnError)
	fs.StringVar(&o.ratify, "ratify", "bin/ratify", "the ratify binary")
	fs.StringVar(&o.peer, "peer", "", "the Ratify v1.4.4 binary (default: the test tool ratify-v1.4.4)")
	fs.IntVar(&o.signed, "signed", 100, "notation-signed images, and as many cosign-signed")
	fs.IntVar(&o.unsigned, "unsigned", 10, "unsigned images")
	fs.IntVar(&o.rounds, "rounds", 3, "cold rounds (each on a new process for each provider)")
	fs.IntVar(&o.warm, "warm", 5000, "warm requests (10 keys each) at each in-flight level")
	levels := fs.String("in-flight", "4,16", "warm requests in flight, comma-separated levels")
	fs.IntVar(&o.rssKeys, "rss-keys", 100000, "keys the warm process answers in all (the warm runs', then more at the highest level) before its peak resident set is read")
	fs.StringVar(&o.logLevel, "log-level", "", "RATIFY_LOG_LEVEL for both providers (both read it; unset, both log at info)")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's directory (configurations, provider logs, registry data)")
	fs.StringVar(&o.out, "out", "", "also write the table (markdown) to this file")
	_ = fs.Parse(args)
	var err error
	if o.inFlight, err = parseLevels(*levels); err != nil {
		return err
	}
	if o.signed < 10 || o.rounds < 1 || o.warm < 1 {
		return errors.New("-signed must be at least 10 (one 10-key request), -rounds and -warm at least 1")
	}
	return comparePeer(context.Background(), o)
}

func comparePeer(ctx context.Context, o peerOptions) error {
	need := map[string]*string{"registry": new(string), "notation": new(string), "cosign": new(string)}
	if o.peer == "" {
		need["ratify-v1.4.4"] = &o.peer
	}
	for name, p := range need {
		path, err := tools.Lookup(name)
		if err != nil {
			return fmt.Errorf("%s (build it with test/tools/install.sh %s): %w", name, name, err)
		}
		*p = path
	}
	info := describe(o)

	dir, err := os.MkdirTemp("", "ratify-bench-compare-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("the run's directory is", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	for _, d := range []string{"tls", "cli", "ratify", "peer"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	tlsFiles, err := sample.NewTLSFiles(filepath.Join(dir, "tls"))
	if err != nil {
		return err
	}
	upstream, stopReg, err := startDistribution(*need["registry"], filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	defer stopReg()
	reg, host, stopProxy, err := countingProxy(upstream)
	if err != nil {
		return err
	}
	defer stopProxy()

	imgs, tr, err := makeImages(ctx, clis{notation: *need["notation"], cosign: *need["cosign"], home: filepath.Join(dir, "cli")}, host, o.signed, o.unsigned)
	if err != nil {
		return err
	}
	resources := filepath.Join(dir, "resources.yaml")
	if err := os.WriteFile(resources, []byte(ratifyResources(tr)), 0o600); err != nil {
		return err
	}
	cfg, err := peerConfig(tr)
	if err != nil {
		return err
	}
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, cfg, 0o600); err != nil {
		return err
	}
	providers := []*provider{
		ratifyProvider(o.ratify, filepath.Join(dir, "ratify"), resources, tlsFiles),
		peerProvider(o.peer, filepath.Join(dir, "peer"), config, tlsFiles),
	}
	if o.logLevel != "" {
		for _, p := range providers {
			p.env = append(p.env, "RATIFY_LOG_LEVEL="+o.logLevel)
		}
	}
	res := make([]*peerFigures, len(providers))
	for i := range res {
		res[i] = &peerFigures{}
	}
	maxConc := 1
	for _, c := range o.inFlight {
		maxConc = max(maxConc, c)
	}
	set := imageSet{signed: signedOrder(imgs), warmUp: warmUps(imgs), denied: checkOnly(imgs), all: len(imgs)}

	for r := 0; r < o.rounds; r++ {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			p := providers[i]
			var c coldRun
			err := p.attempt(fmt.Sprintf("round %d, cold, 1 key a request", r+1), func() (err error) {
				c, err = p.coldOne(tlsFiles, reg, set)
				return err
			})
			if err != nil {
				return err
			}
			res[i].cold1 = append(res[i].cold1, c)
			fmt.Printf("round %d, %s, cold, 1 key a request: %.0f images/s, p50 %.2f ms, max %.2f ms, %.2f ms CPU per image\n",
				r+1, p.name, c.rate(), ms(percentile(c.lat, 50)), ms(percentile(c.lat, 100)), ms(c.cpuPerImage()))
		}
		for _, i := range order {
			p := providers[i]
			var c coldRun
			err := p.attempt(fmt.Sprintf("round %d, cold, 10 keys a request", r+1), func() (err error) {
				c, err = p.coldTen(tlsFiles, reg, set)
				return err
			})
			if err != nil {
				return err
			}
			res[i].cold10 = append(res[i].cold10, c)
			fmt.Printf("round %d, %s, cold, 10 keys a request: %.0f images/s, p50 %.2f ms, max %.2f ms a request, %.2f ms CPU per image\n",
				r+1, p.name, c.rate(), ms(percentile(c.lat, 50)), ms(percentile(c.lat, 100)), ms(c.cpuPerImage()))
		}
	}
	for i, p := range providers {
		if err := p.attempt("warm", func() error { return p.warmAndRSS(tlsFiles, reg, set, o, maxConc, res[i]) }); err != nil {
			return err
		}
	}
	if o.logLevel == "" {
		for i, p := range providers {
			if err := p.attempt("warm, logging at warn", func() error { return p.quietWarm(tlsFiles, reg, set, o, res[i]) }); err != nil {
				return err
			}
		}
	}
	for i, p := range providers {
		res[i].check = fmt.Sprintf("%d/%d", set.all, set.all)
		res[i].retried = p.retried.Load()
		res[i].redone = p.redone
	}
	return printTable(info, o, set.all, res[0], res[1])
}

// attempt runs a phase; when it failed otherwise than by a wrong verdict
// (the provider's process exited, a request failed or a key was answered
// with an error, as when a deadline passes on a loaded machine), the phase
// runs once more on a new process and the failure is recorded for the
// table. A second failure ends the run.
func (p *provider) attempt(phase string, f func() error) error {
	err := f()
	if err == nil || !transient(err) {
		return err
	}
	why := firstLine(err.Error())
	var ex *exitedError
	if errors.As(err, &ex) {
		why = "exited, " + ex.summary() + ", after: " + firstLine(ex.cause.Error())
	}
	p.redone = append(p.redone, phase+": "+why)
	fmt.Printf("%s failed during %s (%s); the phase runs again on a new process\n", p.name, phase, why)
	return f()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// signedOrder is the signed images measured, notation and cosign
// alternating, so that every run and every 10-key request mixes the two.
func signedOrder(imgs []image) []image {
	var n, c, out []image
	for _, im := range imgs {
		if im.warmUp {
			continue
		}
		switch im.kind {
		case notationSigned:
			n = append(n, im)
		case cosignSigned:
			c = append(c, im)
		}
	}
	for i := 0; i < max(len(n), len(c)); i++ {
		if i < len(n) {
			out = append(out, n[i])
		}
		if i < len(c) {
			out = append(out, c[i])
		}
	}
	return out
}

// warmUps is the images verified, unmeasured, first on each process.
func warmUps(imgs []image) []image {
	var out []image
	for _, im := range imgs {
		if im.warmUp {
			out = append(out, im)
		}
	}
	return out
}

// checkOnly is the images that must be denied.
func checkOnly(imgs []image) []image {
	var out []image
	for _, im := range imgs {
		if !im.kind.allowed() {
			out = append(out, im)
		}
	}
	return out
}

func refs(imgs []image) []string {
	out := make([]string, len(imgs))
	for i, im := range imgs {
		out[i] = im.ref
	}
	return out
}

// coldOne verifies every image once on a new process, one key a request,
// one request at a time: the warm-up images, the signed images (the
// figures), then the others (the check). A verdict that is not the
// expected one ends the run.
func (p *provider) coldOne(f sample.TLSFiles, reg *counting, set imageSet) (coldRun, error) {
	var c coldRun
	r, err := p.start(f, 1)
	if err != nil {
		return c, err
	}
	defer r.stop()
	one := func(im image) error {
		before := reg.n.Load()
		start := time.Now()
		items, err := post(r.client, r.url, []string{im.ref})
		d := time.Since(start)
		if err != nil {
			return r.failed(fmt.Errorf("%s: %s: %w", p.name, im.ref, err))
		}
		if err := p.expect(im, items[0]); err != nil {
			return err
		}
		if !im.warmUp {
			c.reqs[im.kind] += reg.n.Load() - before
			c.count[im.kind]++
		}
		if im.kind.allowed() && !im.warmUp {
			c.lat = append(c.lat, d)
			c.elapsed += d
		}
		return nil
	}
	for _, im := range set.warmUp {
		if err := one(im); err != nil {
			return c, err
		}
	}
	cpu0, err := cpuTime(r.pid)
	if err != nil {
		return c, err
	}
	for _, im := range set.signed {
		if err := one(im); err != nil {
			return c, err
		}
	}
	cpu1, err := cpuTime(r.pid)
	if err != nil {
		return c, err
	}
	c.cpu, c.images = cpu1-cpu0, len(set.signed)
	for _, im := range set.denied {
		if err := one(im); err != nil {
			return c, err
		}
	}
	return c, nil
}

// expect checks the verdict on im. An admitted image that should be
// denied, or a signed one denied without an error, is a verdictError: the
// providers disagree with the images, and the run stops. A signed image
// answered with an error (a deadline passed) is an ordinary failure.
func (p *provider) expect(im image, it item) error {
	if it.allowed() == im.kind.allowed() {
		return nil
	}
	want := map[bool]string{true: "allowed", false: "denied"}[im.kind.allowed()]
	err := fmt.Errorf("%s: %s image %s: want %s, got: %s (-keep leaves the configurations and logs)",
		p.name, im.kind, im.ref, want, it.reason())
	if it.Error != "" && !it.allowed() {
		return err
	}
	return &verdictError{err}
}

// verdictError is a verdict that is not the expected one.
type verdictError struct{ error }

func (e *verdictError) Unwrap() error { return e.error }

// transient says whether err may pass on a new process: not a wrong
// verdict, but a crash, a reset connection, an HTTP error or a key
// answered with an error.
func transient(err error) bool {
	var v *verdictError
	if errors.As(err, &v) {
		return false
	}
	var d *deniedError
	if errors.As(err, &d) {
		return d.it.Error != ""
	}
	return true
}

// coldTen verifies the signed images on a new process, after the warm-up
// images, 10 keys a request, one request at a time.
func (p *provider) coldTen(f sample.TLSFiles, reg *counting, set imageSet) (coldRun, error) {
	r, err := p.start(f, 1)
	if err != nil {
		return coldRun{}, err
	}
	defer r.stop()
	if err := p.warmUp(r, set); err != nil {
		return coldRun{}, err
	}
	return coldBatches(p.name, r, reg, set.signed)
}

// warmUp verifies the warm-up images in one request.
func (p *provider) warmUp(r *running, set imageSet) error {
	items, err := post(r.client, r.url, refs(set.warmUp))
	if err != nil {
		return r.failed(fmt.Errorf("%s: %w", p.name, err))
	}
	for i, it := range items {
		im := set.warmUp[0]
		for _, w := range set.warmUp {
			if w.ref == it.Key {
				im = w
			}
		}
		if err := p.expect(im, items[i]); err != nil {
			return err
		}
	}
	return nil
}

func coldBatches(name string, r *running, reg *counting, signed []image) (coldRun, error) {
	c := coldRun{images: len(signed)}
	cpu0, err := cpuTime(r.pid)
	if err != nil {
		return c, err
	}
	before := reg.n.Load()
	start := time.Now()
	if c.lat, err = load(r.client, r.url, batches(refs(signed), 10), 1); err != nil {
		return c, r.failed(fmt.Errorf("%s: %w", name, err))
	}
	c.elapsed = time.Since(start)
	cpu1, err := cpuTime(r.pid)
	if err != nil {
		return c, err
	}
	c.cpu, c.total = cpu1-cpu0, reg.n.Load()-before
	return c, nil
}

// warmAndRSS starts p once more, verifies the images (10 keys a request,
// not measured), then measures each in-flight level on the cached
// verdicts, sends more keys until o.rssKeys were answered and reads the
// peak resident set.
func (p *provider) warmAndRSS(f sample.TLSFiles, reg *counting, set imageSet, o peerOptions, conc int, res *peerFigures) error {
	r, err := p.primed(f, reg, set, conc)
	if err != nil {
		return err
	}
	defer r.stop()
	if res.warm, err = p.warmLevels(r, reg, set, o.inFlight, o.warm, ""); err != nil {
		return err
	}
	res.rssKeys = len(set.warmUp) + len(set.signed) + len(o.inFlight)*o.warm*10
	if more := (o.rssKeys - res.rssKeys + 9) / 10; more > 0 {
		if _, err := load(r.client, r.url, warmBatches(set, more), conc); err != nil {
			return r.failed(fmt.Errorf("%s: %w", p.name, err))
		}
		res.rssKeys += more * 10
	}
	res.rss, err = peakRSS(r.pid)
	return err
}

// quietWarm measures the first in-flight level again on a new process
// logging at warn: at info Ratify v1.4.4 logs every answer, cached or not,
// as indented JSON, which is part of its default cost but not of its
// cache's.
func (p *provider) quietWarm(f sample.TLSFiles, reg *counting, set imageSet, o peerOptions, res *peerFigures) error {
	r, err := p.primed(f, reg, set, o.inFlight[0], "RATIFY_LOG_LEVEL=warn")
	if err != nil {
		return err
	}
	defer r.stop()
	res.quiet, err = p.warmLevels(r, reg, set, o.inFlight[:1], o.warm, " (logging at warn)")
	return err
}

// primed is p started (with env) and every image verified once, 10 keys a
// request, unmeasured.
func (p *provider) primed(f sample.TLSFiles, reg *counting, set imageSet, conc int, env ...string) (*running, error) {
	r, err := p.start(f, conc, env...)
	if err != nil {
		return nil, err
	}
	if err := p.warmUp(r, set); err != nil {
		r.stop()
		return nil, err
	}
	if _, err := coldBatches(p.name, r, reg, set.signed); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
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

// warmLevels sends n requests at each level of in-flight requests.
func (p *provider) warmLevels(r *running, reg *counting, set imageSet, levels []int, n int, note string) ([]warmRun, error) {
	var out []warmRun
	for _, level := range levels {
		w := warmRun{conc: level, keys: n * 10}
		cpu0, err := cpuTime(r.pid)
		if err != nil {
			return nil, err
		}
		before := reg.n.Load()
		start := time.Now()
		if w.lat, err = load(r.client, r.url, warmBatches(set, n), level); err != nil {
			return nil, r.failed(fmt.Errorf("%s: %w", p.name, err))
		}
		w.elapsed = time.Since(start)
		cpu1, err := cpuTime(r.pid)
		if err != nil {
			return nil, err
		}
		w.cpu, w.reqs = cpu1-cpu0, reg.n.Load()-before
		out = append(out, w)
		fmt.Printf("%s, warm, %d in flight%s: %.0f keys/s, p99 %.2f ms, %.1f µs CPU per key\n",
			p.name, level, note, w.rate(), ms(percentile(w.lat, 99)), us(w.cpu, w.keys))
	}
	return out, nil
}
