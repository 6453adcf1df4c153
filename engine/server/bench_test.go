package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/seed-12b584bc/ratify/engine/server"
)

// BenchmarkWarmRequest is the server's own cost of a 10-key request whose
// decisions are cached (no network, no TLS): the floor under make bench's
// warm latency.
func BenchmarkWarmRequest(b *testing.B) {
	f := newFixture(b, server.Options{}, "10m")
	keys := []string{f.signed, f.unsigned}
	for i := len(keys); i < 10; i++ {
		keys = append(keys, f.sign(fmt.Sprintf("v%d", i)))
	}
	body := request(keys...)
	h := f.srv.Handler()
	warm := httptest.NewRecorder()
	h.ServeHTTP(warm, httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkWarmRequestParallel is BenchmarkWarmRequest with requests in
// flight on every core, as Gatekeeper's replicas send them: contention on
// the caches shows here.
func BenchmarkWarmRequestParallel(b *testing.B) {
	f := newFixture(b, server.Options{}, "10m")
	keys := []string{f.signed, f.unsigned}
	for i := len(keys); i < 10; i++ {
		keys = append(keys, f.sign(fmt.Sprintf("v%d", i)))
	}
	body := request(keys...)
	h := f.srv.Handler()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
			if rec.Code != http.StatusOK {
				b.Error(rec.Code)
				return
			}
		}
	})
}

// BenchmarkWarmRequestManyImages is the warm path with 1,000 images
// decided (the caches hold as many entries as a busy cluster's), requests
// cycling through them with requests in flight on every core.
func BenchmarkWarmRequestManyImages(b *testing.B) {
	f := newFixture(b, server.Options{}, "10m")
	var bodies [][]byte
	for i := 0; i < 100; i++ {
		keys := make([]string, 10)
		for j := range keys {
			keys[j] = f.sign(fmt.Sprintf("m%d-%d", i, j))
		}
		bodies = append(bodies, request(keys...))
	}
	h := f.srv.Handler()
	for _, body := range bodies {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[int(next.Add(1))%len(bodies)]
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
			if rec.Code != http.StatusOK {
				b.Error(rec.Code)
				return
			}
		}
	})
}
