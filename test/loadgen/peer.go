package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
// images signed by the real notation and cosign CLIs, in -rounds rounds,
// the providers' order alternating from one round to the next:
//
//   - check: every image's verdict, from both, in every cold round (a
//     peer that admits the untrusted images or denies the signed ones
//     makes the figures meaningless, so the run stops);
//   - cold, sequential, 1 and then 10 keys a request, each round on a new
//     process (images/s, latency, provider CPU and registry requests per
//     verification);
//   - warm, 10 keys a request at each -in-flight level, on one process
//     each (keys/s, p50/p99, provider CPU per key, registry requests);
//   - the peak resident set (VmHWM) of the warm process once it has
//     answered -rss-keys keys.
func peerMain(args []string) error {
	var o peerOptions
	fs := flag.NewFlagSet("loadgen peer", flag.ExitOnError)
	fs.StringVar(&o.ratify, "ratify", "bin/ratify", "the ratify binary")
	fs.StringVar(&o.peer, "peer", "", "the Ratify v1.4.4 binary (default: the test tool ratify-v1.4.4)")
	fs.IntVar(&o.signed, "signed", 100, "notation-signed images, and as many cosign-signed")
	fs.IntVar(&o.unsigned, "unsigned", 10, "unsigned images")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of each measurement (cold ones each on a new process), the providers' order alternating")
	fs.IntVar(&o.warm, "warm", 2000, "warm requests (10 keys each) at each in-flight level in each round")
	levels := fs.String("in-flight", "4,16", "warm requests in flight, comma-separated levels")
	fs.IntVar(&o.rssKeys, "rss-keys", 100000, "keys the warm process answers in all (the warm rounds', then more at the highest level) before its peak resident set is read")
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
	if err := warmPhase(providers, tlsFiles, reg, set, o, res); err != nil {
		return err
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
