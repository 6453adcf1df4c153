package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
)

type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// registryHosts returns the request count of each registry_host label.
func registryHosts(t *testing.T, m *metrics) map[string]float64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ratify_registry_request_count" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "registry_host" {
					out[l.GetValue()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// Images name any registry host they like; the registry request metric
// keeps one series per host for the first hosts only, and counts the
// rest under "other", so a flood of hostnames cannot grow it without bound.
func TestRegistryHostLabelsBounded(t *testing.T) {
	m := newMetrics()
	rt := m.wrapTransport(okTransport{})
	get := func(host string) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/v2/", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	get("Registry.Example.com")
	for i := 0; i < 1000; i++ {
		get(fmt.Sprintf("r%d.attacker.example", i))
	}
	get("registry.example.com")
	hosts := registryHosts(t, m)
	if len(hosts) > maxRegistryHostLabels+1 {
		t.Fatalf("%d registry_host label values, want at most %d + other", len(hosts), maxRegistryHostLabels)
	}
	if hosts["registry.example.com"] != 2 {
		t.Errorf("a host seen first keeps its own series: %v requests, want 2", hosts["registry.example.com"])
	}
	if want := float64(1000 - (maxRegistryHostLabels - 1)); hosts["other"] != want {
		t.Errorf("other: %v requests, want %v", hosts["other"], want)
	}
}

// The Azure providers' exchanges are timed as Ratify names them, by
// success; the server hands its observer to the store.
func TestExchangeMetrics(t *testing.T) {
	s := New(Options{})
	o := s.EngineOptions(engine.Options{})
	if o.StoreOptions.ObserveExchange == nil {
		t.Fatal("EngineOptions gives the store no exchange observer")
	}
	o.StoreOptions.ObserveExchange(oras.AzureExchangeAAD, 40*time.Millisecond, nil)
	o.StoreOptions.ObserveExchange(oras.AzureExchangeACR, 12*time.Millisecond, nil)
	o.StoreOptions.ObserveExchange(oras.AzureExchangeACR, 3*time.Millisecond, errors.New("401"))
	o.StoreOptions.ObserveExchange("something else", time.Second, nil)
	families, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		if !strings.HasSuffix(f.GetName(), "_exchange_duration") {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			got[f.GetName()+" "+m.GetLabel()[0].GetValue()] = fmt.Sprintf("%d %g", h.GetSampleCount(), h.GetSampleSum())
		}
	}
	want := map[string]string{
		"ratify_aad_exchange_duration true":  "1 40",
		"ratify_acr_exchange_duration true":  "1 12",
		"ratify_acr_exchange_duration false": "1 3",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("exchange histograms (count, sum in ms) %v, want %v", got, want)
	}
}
