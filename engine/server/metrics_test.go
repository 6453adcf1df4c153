package server

import (
	"fmt"
	"net/http"
	"testing"
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
