package server

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// metrics are the server's Prometheus metrics, with Ratify's names where
// Ratify has one. They live in the server's own registry (no globals).
type metrics struct {
	reg            *prometheus.Registry
	verifyDuration prometheus.Histogram
	mutateDuration prometheus.Histogram
	requests       *prometheus.CounterVec
	verifier       *prometheus.HistogramVec
	cache          *prometheus.CounterVec
	// cacheHit and cacheMiss are cache's two series, resolved once: a
	// label lookup per cached key is measurable on the warm path.
	cacheHit, cacheMiss prometheus.Counter
	registry            *prometheus.CounterVec
	systemErrors        prometheus.Counter
	// aadExchange and acrExchange time the Azure auth providers' token
	// exchanges (Entra ID, ACR's /oauth2/exchange), by success.
	aadExchange, acrExchange *prometheus.HistogramVec
	// akv times the reads of Key Vault certificates and keys.
	akv *prometheus.HistogramVec

	// hosts are the registry_host label values in use; images name any
	// host they like, so at most maxRegistryHostLabels get their own.
	hostsMu sync.Mutex
	hosts   map[string]bool
}

// maxRegistryHostLabels bounds the registry_host values of
// ratify_registry_request_count: the first hosts seen keep their own
// series, requests to any other host count under otherRegistryHost.
const (
	maxRegistryHostLabels = 100
	otherRegistryHost     = "other"
)

// ms buckets from 1 ms to ~8 s, as admission latencies go.
var msBuckets = prometheus.ExponentialBuckets(1, 2, 14)

func newMetrics() *metrics {
	m := &metrics{
		hosts: map[string]bool{},
		reg:   prometheus.NewRegistry(),
		verifyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ratify_verification_request", Help: "Duration of verification requests, in milliseconds.", Buckets: msBuckets}),
		mutateDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ratify_mutation_request", Help: "Duration of mutation requests, in milliseconds.", Buckets: msBuckets}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_requests_total", Help: "External-data requests by endpoint and outcome (ok, bad_request, too_large, method_not_allowed, too_many_keys)."},
			[]string{"endpoint", "outcome"}),
		verifier: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_verifier_duration", Help: "Duration of builtin calls that ran (not memoized), in milliseconds, by builtin, success and whether the result came from the builtin cache.", Buckets: msBuckets},
			[]string{"verifier", "success", "cached"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_cache_count", Help: "Decision cache lookups by result (hit, miss)."}, []string{"cache_hit"}),
		registry: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_registry_request_count", Help: "Registry requests by status code and registry host (the first 100 hosts seen; requests to others count as \"other\")."}, []string{"status_code", "registry_host"}),
		systemErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratify_system_error_count", Help: "Internal errors: panics recovered while evaluating a key."}),
		aadExchange: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_aad_exchange_duration", Help: "Duration of Entra ID token requests of the Azure auth providers, in milliseconds, by success.", Buckets: msBuckets},
			[]string{"success"}),
		acrExchange: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_acr_exchange_duration", Help: "Duration of ACR token exchanges (an Entra ID token for an ACR refresh token), in milliseconds, by success.", Buckets: msBuckets},
			[]string{"success"}),
		akv: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_akv_certificate_duration", Help: "Duration of reading one certificate or key from Azure Key Vault, in milliseconds, by success.", Buckets: msBuckets},
			[]string{"success"}),
	}
	m.cacheHit, m.cacheMiss = m.cache.WithLabelValues("true"), m.cache.WithLabelValues("false")
	m.reg.MustRegister(m.verifyDuration, m.mutateDuration, m.requests, m.verifier, m.cache, m.registry, m.systemErrors,
		m.aadExchange, m.acrExchange, m.akv,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeCache counts decision cache lookups, as Ratify's ratify_cache_count.
func (m *metrics) observeCache(hit bool) {
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}

func (m *metrics) observeBuiltin(name string, d time.Duration, success, cached bool) {
	m.verifier.WithLabelValues(name, strconv.FormatBool(success), strconv.FormatBool(cached)).Observe(float64(d) / float64(time.Millisecond))
}

// observeExchange times an auth provider's token exchange, as Ratify's
// ratify_aad_exchange_duration and ratify_acr_exchange_duration.
func (m *metrics) observeExchange(kind string, d time.Duration, err error) {
	h := m.acrExchange
	switch kind {
	case oras.AzureExchangeAAD:
		h = m.aadExchange
	case oras.AzureExchangeACR:
	default:
		return
	}
	h.WithLabelValues(strconv.FormatBool(err == nil)).Observe(float64(d) / float64(time.Millisecond))
}

// observeKeyVault times one Key Vault read, as Ratify's
// ratify_akv_certificate_duration.
func (m *metrics) observeKeyVault(d time.Duration, err error) {
	m.akv.WithLabelValues(strconv.FormatBool(err == nil)).Observe(float64(d) / float64(time.Millisecond))
}

// countingTransport counts registry requests by status.
type countingTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.m.registry.WithLabelValues(status, t.m.hostLabel(req.URL.Host)).Inc()
	return resp, err
}

// hostLabel is the registry_host label value of host.
func (m *metrics) hostLabel(host string) string {
	host = strings.ToLower(host)
	m.hostsMu.Lock()
	defer m.hostsMu.Unlock()
	if m.hosts[host] {
		return host
	}
	if len(m.hosts) >= maxRegistryHostLabels {
		return otherRegistryHost
	}
	m.hosts[host] = true
	return host
}

func (m *metrics) wrapTransport(rt http.RoundTripper) http.RoundTripper {
	return countingTransport{next: rt, m: m}
}
