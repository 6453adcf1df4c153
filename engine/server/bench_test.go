package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
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
