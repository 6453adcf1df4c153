package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

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
