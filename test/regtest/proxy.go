package regtest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is one misbehaviour of the proxy, applied to matching requests.
type Fault struct {
	// Match selects requests; nil matches every request.
	Match func(*http.Request) bool
	// Times is how many matching requests get the fault; 0 means all.
	Times int
	// Status answers with this status (and Header) instead of forwarding.
	Status int
	Header http.Header
	// Reset closes the connection without an answer.
	Reset bool
	// Delay waits before forwarding (or answering Status).
	Delay time.Duration
	// Tamper rewrites the upstream response body (headers are kept, with
	// Content-Length fixed), as a compromised mirror would.
	Tamper func([]byte) []byte
}

// Proxy is a loopback reverse proxy in front of a registry that injects
// faults and counts requests.
type Proxy struct {
	Registry
	mu       sync.Mutex
	faults   []*Fault
	requests atomic.Int64
}

// StartProxy proxies to the registry at host.
func StartProxy(t testing.TB, host string) *Proxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: host}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &Proxy{}
	rp.ModifyResponse = func(resp *http.Response) error {
		f, _ := resp.Request.Context().Value(faultKey{}).(*Fault)
		if f == nil || f.Tamper == nil {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = f.Tamper(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		f := p.take(r)
		if f != nil {
			if f.Delay > 0 {
				select {
				case <-time.After(f.Delay):
				case <-r.Context().Done():
					return
				}
			}
			switch {
			case f.Reset:
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
							_ = tc.SetLinger(0)
						}
						conn.Close()
					}
				}
				return
			case f.Status != 0:
				for k, v := range f.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(f.Status)
				return
			}
			r = r.WithContext(withFault(r.Context(), f))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Add installs a fault; faults are tried in the order added.
func (p *Proxy) Add(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// Clear removes all faults.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Requests is the number of requests the proxy has received.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

func (p *Proxy) take(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.faults {
		if f.Match != nil && !f.Match(r) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			}
		}
		return f
	}
	return nil
}
