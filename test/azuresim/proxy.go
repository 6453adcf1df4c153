package azuresim

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Proxy serves an HTTP CONNECT proxy on loopback until the test ends and
// returns its URL, for a process (ratify serve) to reach the simulated
// services by their public names: set HTTPS_PROXY to it and SSL_CERT_FILE
// to CAFile. The Azure SDK's and the registry client's transports honour
// HTTPS_PROXY (http.ProxyFromEnvironment), and Go never proxies loopback
// addresses, so the process still reaches the API server directly.
// Tunnels go where Transport dials: the routed names, or nowhere (a
// request for any other host is answered 502, so nothing leaves the
// machine).
func (n *Net) Proxy(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
			return
		}
		n.mu.Lock()
		to, ok := n.routes[r.Host]
		n.mu.Unlock()
		if !ok {
			http.Error(w, ErrNoRoute.Error()+": "+r.Host, http.StatusBadGateway)
			return
		}
		up, err := net.DialTimeout("tcp", to, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			up.Close()
			http.Error(w, "no hijacking", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			splice(down, buf, up)
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// splice copies both ways until either side ends; buffered bytes the
// client sent after its CONNECT go first.
func splice(down net.Conn, buf io.Reader, up net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, buf)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(down, up)
		done <- struct{}{}
	}()
	<-done
	_ = down.Close()
	_ = up.Close()
	<-done
}
