package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seed-12b584bc/ratify/test/tools"
)

// coldRun is one provider's cold verifications in one round.
type coldRun struct {
	images  int
	elapsed time.Duration   // wall time over the signed images
	cpu     time.Duration   // the provider's CPU over them
	lat     []time.Duration // per request
	reqs    [nKinds]int64   // registry requests by kind, 1-key runs
	count   [nKinds]int
	total   int64 // registry requests, 10-key runs
}

func (c coldRun) rate() float64 { return float64(c.images) / c.elapsed.Seconds() }

func (c coldRun) cpuPerImage() time.Duration { return c.cpu / time.Duration(c.images) }

// warmRun is one in-flight level on cached verdicts.
type warmRun struct {
	conc, keys int
	elapsed    time.Duration
	lat        []time.Duration
	cpu        time.Duration
	genCPU     time.Duration // the load generator's own, on the same cores
	reqs       int64
}

func (w warmRun) rate() float64 { return float64(w.keys) / w.elapsed.Seconds() }

// peerFigures are one provider's measurements.
type peerFigures struct {
	check         string
	cold1, cold10 []coldRun
	warm          [][]warmRun // by level, then round
	quiet         [][]warmRun // the first level again, both logging at warn
	rssKeys       int
	rss           memory   // after rssKeys keys
	idle          memory   // the warm process once started, before any request
	retried       int64    // requests sent again after a transport error
	redone        []string // phases run again after a failure, and why
}

// medianRate is the median over rounds of their rate (images/s cold,
// keys/s warm).
func medianRate[R interface{ rate() float64 }](runs []R) float64 {
	rs := make([]float64, len(runs))
	for i, r := range runs {
		rs[i] = r.rate()
	}
	sort.Float64s(rs)
	return rs[len(rs)/2]
}

// pooled sums the rounds.
func pooled(runs []coldRun) coldRun {
	var p coldRun
	for _, r := range runs {
		p.images += r.images
		p.elapsed += r.elapsed
		p.cpu += r.cpu
		p.lat = append(p.lat, r.lat...)
		p.total += r.total
		for k := range p.reqs {
			p.reqs[k] += r.reqs[k]
			p.count[k] += r.count[k]
		}
	}
	return p
}

func (c coldRun) perImage(k kind) float64 { return float64(c.reqs[k]) / float64(c.count[k]) }

// pooledWarm sums the rounds of one level.
func pooledWarm(runs []warmRun) warmRun {
	var p warmRun
	for _, r := range runs {
		p.conc = r.conc
		p.keys += r.keys
		p.elapsed += r.elapsed
		p.cpu += r.cpu
		p.genCPU += r.genCPU
		p.reqs += r.reqs
		p.lat = append(p.lat, r.lat...)
	}
	return p
}

func keysAnswered(a, b int) string {
	if a == b {
		return strconv.Itoa(a)
	}
	return fmt.Sprintf("%d (ratify) and %d", a, b)
}

// row is one figure for both providers; lower says whether less is
// better (times, CPU, requests, memory), which the table says.
type row struct {
	name   string
	a, b   float64
	format string
	lower  bool
	info   bool // a condition of the run, not a figure to better
}

// machineInfo is what the table's heading says about the run.
type machineInfo struct {
	date, cpu, kernel, memory, versions, loadStart string
	cores                                          int
}

// describe reads the machine and the versions measured.
func describe(o peerOptions) machineInfo {
	m := machineInfo{date: time.Now().UTC().Format("2006-01-02 15:04 MST"), cores: runtime.NumCPU(), loadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	commit := "?"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	m.versions = fmt.Sprintf("ratify %s (this tree, commit %s); Ratify %s (%s); both built with %s; distribution registry %s, notation %s, cosign %s",
		relPath(o.ratify), commit, stamp("ratify-v1.4.4", "v1.4.4"), relPath(o.peer), runtime.Version(),
		stamp("registry", "?"), stamp("notation", "?"), stamp("cosign", "?"))
	return m
}

// relPath is p relative to the working directory when it is inside it,
// so that a table pasted into the docs names no machine's paths.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// stamp is the version a test tool was built from (install.sh's stamp).
func stamp(name, def string) string {
	b, err := os.ReadFile(filepath.Join(tools.Dir(), "bin", "."+name+".version"))
	if err != nil {
		return def
	}
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndexByte(s, '@')+1:]
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-in-flight: %q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// printTable prints the heading and one table of both providers, to
// stdout and to o.out.
func printTable(m machineInfo, o peerOptions, nImages int, a, b *peerFigures) error {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	w("## ratify and Ratify v1.4.4, same machine, same run\n\n")
	w("- date: %s\n", m.date)
	w("- machine: %s, %d cores, %s, %s; load average (1, 5, 15 min) %s at the start, %s at the end\n",
		m.cpu, m.cores, m.memory, m.kernel, m.loadStart, loadAvg())
	w("- versions: %s\n", m.versions)
	w("- images: %d notation-signed and %d cosign-signed (signed by the CLIs), %d unsigned, 1 signed by an untrusted notation certificate and 1 by an untrusted cosign key, one repository each, on the distribution registry (tag schema, no referrers API), plain HTTP on loopback; keys are digest references\n",
		o.signed, o.signed, o.unsigned)
	logs := "both logging at info, their default, to a file"
	if o.logLevel != "" {
		logs = "both with RATIFY_LOG_LEVEL=" + o.logLevel
	}
	w("- transport: mutual TLS 1.3 on loopback, Gatekeeper's ProviderRequest at /ratify/gatekeeper/v1/verify; both providers at their defaults but for a verdict cache of 1h (Ratify: --cache-enabled --cache-ttl 1h); %s\n", logs)
	w("- %d rounds, the providers' order alternating: cold ones each on a new process, one request at a time, after one unmeasured notation- and one cosign-signed image; warm ones on one process each (%d requests a level and round); images/s and keys/s are the median round, the rest pooled over rounds\n\n", o.rounds, o.warm)

	ca, cb := pooled(a.cold1), pooled(b.cold1)
	ta, tb := pooled(a.cold10), pooled(b.cold10)
	rows := []row{
		{name: "cold, 1 key a request: images/s", a: medianRate(a.cold1), b: medianRate(b.cold1), format: "%.0f"},
		{name: "cold, 1 key a request: p50 ms", a: ms(percentile(ca.lat, 50)), b: ms(percentile(cb.lat, 50)), format: "%.2f", lower: true},
		{name: "cold, 1 key a request: p99 ms", a: ms(percentile(ca.lat, 99)), b: ms(percentile(cb.lat, 99)), format: "%.2f", lower: true},
		{name: "cold, 10 keys a request: images/s", a: medianRate(a.cold10), b: medianRate(b.cold10), format: "%.0f"},
		{name: "cold: provider CPU per verification, ms (1 key a request)", a: ms(ca.cpuPerImage()), b: ms(cb.cpuPerImage()), format: "%.2f", lower: true},
		{name: "cold: provider CPU per verification, ms (10 keys a request)", a: ms(ta.cpuPerImage()), b: ms(tb.cpuPerImage()), format: "%.2f", lower: true},
		{name: "registry requests per cold verification: notation-signed", a: ca.perImage(notationSigned), b: cb.perImage(notationSigned), format: "%.2f", lower: true},
		{name: "registry requests per cold verification: cosign-signed", a: ca.perImage(cosignSigned), b: cb.perImage(cosignSigned), format: "%.2f", lower: true},
		{name: "registry requests per cold verification: average of the two", a: (ca.perImage(notationSigned) + ca.perImage(cosignSigned)) / 2,
			b: (cb.perImage(notationSigned) + cb.perImage(cosignSigned)) / 2, format: "%.2f", lower: true},
		{name: "registry requests per cold verification: unsigned", a: ca.perImage(unsigned), b: cb.perImage(unsigned), format: "%.2f", lower: true},
		{name: "registry requests per cold verification: 10 keys a request", a: float64(ta.total) / float64(ta.images),
			b: float64(tb.total) / float64(tb.images), format: "%.2f", lower: true},
	}
	var cachedA, cachedB int64
	warm := func(a, b [][]warmRun, note string) {
		for l := range a {
			wa, wb := pooledWarm(a[l]), pooledWarm(b[l])
			pre := fmt.Sprintf("warm, 10 keys a request, %d in flight%s: ", wa.conc, note)
			rows = append(rows,
				row{name: pre + "keys/s", a: medianRate(a[l]), b: medianRate(b[l]), format: "%.0f"},
				row{name: pre + "p50 ms", a: ms(percentile(wa.lat, 50)), b: ms(percentile(wb.lat, 50)), format: "%.2f", lower: true},
				row{name: pre + "p99 ms", a: ms(percentile(wa.lat, 99)), b: ms(percentile(wb.lat, 99)), format: "%.2f", lower: true},
				row{name: pre + "provider CPU per key, µs", a: us(wa.cpu, wa.keys), b: us(wb.cpu, wb.keys), format: "%.1f", lower: true},
				row{name: pre + "the load generator's CPU over the run, cores (it shares the machine)", a: wa.genCPU.Seconds() / wa.elapsed.Seconds(), b: wb.genCPU.Seconds() / wb.elapsed.Seconds(), format: "%.2f", info: true},
			)
			cachedA += wa.reqs
			cachedB += wb.reqs
		}
	}
	warm(a.warm, b.warm, "")
	warm(a.quiet, b.quiet, ", both logging at warn")
	rows = append(rows,
		row{name: "registry requests while cached (all warm runs)", a: float64(cachedA), b: float64(cachedB), format: "%.0f", lower: true},
		row{name: "resident memory of the warm process once started, before any request, MiB", a: mib(a.idle.now), b: mib(b.idle.now), format: "%.1f", lower: true},
		row{name: "of which the executable's pages and other files (RssFile), MiB", a: mib(a.idle.file), b: mib(b.idle.file), format: "%.1f", lower: true},
		row{name: fmt.Sprintf("peak resident memory of the warm process after %s keys (VmHWM), MiB", keysAnswered(a.rssKeys, b.rssKeys)), a: mib(a.rss.peak), b: mib(b.rss.peak), format: "%.1f", lower: true},
		row{name: "resident memory then: anonymous (heap, stacks: RssAnon), MiB", a: mib(a.rss.anon), b: mib(b.rss.anon), format: "%.1f", lower: true},
		row{name: "resident memory then: the executable's pages and other files (RssFile), MiB", a: mib(a.rss.file), b: mib(b.rss.file), format: "%.1f", lower: true},
		row{name: "requests sent again after a reset connection (no HTTP answer)", a: float64(a.retried), b: float64(b.retried), format: "%.0f", lower: true},
		row{name: "phases run again on a new process after a failure (listed below)", a: float64(len(a.redone)), b: float64(len(b.redone)), format: "%.0f", lower: true},
	)

	w("| figure | ratify | Ratify v1.4.4 | ratio (ratify ÷ Ratify) |\n|---|--:|--:|--:|\n")
	w("| check: %d verdicts as expected in every round (signed allowed; unsigned and untrusted denied) | %s | %s | |\n", nImages, a.check, b.check)
	for _, r := range rows {
		if r.info {
			w("| %s | "+r.format+" | "+r.format+" | |\n", r.name, r.a, r.b)
			continue
		}
		better := "higher is better"
		if r.lower {
			better = "lower is better"
		}
		w("| %s | "+r.format+" | "+r.format+" | %s (%s) |\n", r.name, r.a, r.b, ratio(r.a, r.b), better)
	}
	for _, f := range []struct {
		name   string
		redone []string
	}{{"ratify", a.redone}, {"Ratify v1.4.4", b.redone}} {
		for _, e := range f.redone {
			w("\n- %s failed during %s", f.name, e)
		}
	}
	if len(a.redone)+len(b.redone) > 0 {
		w("\n")
	}
	fmt.Print("\n" + sb.String())
	if o.out == "" {
		return nil
	}
	return os.WriteFile(o.out, []byte(sb.String()), 0o644)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func us(d time.Duration, keys int) float64 {
	return float64(d) / float64(time.Microsecond) / float64(keys)
}

func ratio(a, b float64) string {
	switch {
	case a == 0 && b == 0:
		return "="
	case b == 0 || math.IsNaN(a/b):
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}
