// Package azuresim simulates the Azure services ratify's Azure auth
// providers talk to, for tests on a machine that cannot reach Azure: local
// servers that speak the documented REST APIs, so that the real Azure SDK
// (azidentity) and ratify's own clients are driven against them.
//
//   - Entra ID (entra.go): the OAuth 2.0 token endpoint with the client
//     credentials grant and a federated client assertion (workload
//     identity), and the discovery documents MSAL asks for.
//   - The managed identity endpoint of the Azure Instance Metadata
//     Service (imds.go).
//   - Azure Container Registry (acr.go): /oauth2/exchange and
//     /oauth2/token in front of a real distribution registry that demands
//     the bearer tokens the simulated token endpoint issues.
//
// Everything is served on loopback. Net is the network: its servers answer
// to public names (login.microsoftonline.com, <name>.azurecr.io, port 443;
// 169.254.169.254, port 80) through Net.Transport, whose dialer maps those
// names alone to the listeners and whose TLS trusts only the simulators'
// fresh CA; any other name is refused, so nothing leaves the machine.
package azuresim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// LoginHost is Entra ID's public cloud authority host, the one azidentity
// uses when AZURE_AUTHORITY_HOST names it.
const LoginHost = "login.microsoftonline.com"

// IMDSHost is the Azure Instance Metadata Service's address.
const IMDSHost = "169.254.169.254:80"

// ErrNoRoute is the dial error for a name no simulator serves.
var ErrNoRoute = errors.New("azuresim: no simulated service at this address")

// Net is a simulated network of TLS servers on loopback, named by public
// host names.
type Net struct {
	// CAFile is the PEM file of the CA every server's certificate chains to.
	CAFile string
	ca     *sample.TLSCA
	pool   *x509.CertPool

	mu     sync.Mutex
	routes map[string]string // host:port → loopback address
}

// NewNet makes a network with a fresh CA (written into a temporary
// directory of t).
func NewNet(t testing.TB) *Net {
	t.Helper()
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "azuresim test CA"})
	if err != nil {
		t.Fatal(err)
	}
	n := &Net{ca: ca, pool: x509.NewCertPool(), routes: map[string]string{},
		CAFile: filepath.Join(t.TempDir(), "azuresim-ca.pem")}
	n.pool.AddCert(ca.Cert)
	if err := os.WriteFile(n.CAFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// ServeTLS serves h over HTTPS on a loopback port until the test ends,
// with a certificate for names (and 127.0.0.1), and routes each name at
// port 443 to it. It returns the loopback address (127.0.0.1:port), which
// is also a name the server answers to.
func (n *Net) ServeTLS(t testing.TB, h http.Handler, names ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := n.serverCert(names)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()
	n.mu.Lock()
	for _, name := range names {
		n.routes[net.JoinHostPort(name, "443")] = addr
	}
	n.mu.Unlock()
	return addr
}

// ServeHTTP serves h over plain HTTP on a loopback port until the test
// ends, and routes hostport (such as IMDSHost) to it.
func (n *Net) ServeHTTP(t testing.TB, h http.Handler, hostport string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	n.mu.Lock()
	n.routes[hostport] = ln.Addr().String()
	n.mu.Unlock()
	return ln.Addr().String()
}

func (n *Net) serverCert(names []string) (tls.Certificate, error) {
	tmpl := sample.ServerTemplate(append([]string{"127.0.0.1"}, names...)...)
	tmpl.Subject.CommonName = "azuresim"
	return n.ca.Issue(tmpl)
}

// Transport reaches the simulated services by their names: routed names
// dial their loopback listener, loopback addresses dial themselves, and
// any other address is refused (ErrNoRoute). TLS trusts only the
// simulators' CA.
func (n *Net) Transport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			n.mu.Lock()
			to, ok := n.routes[addr]
			n.mu.Unlock()
			if !ok {
				host, _, err := net.SplitHostPort(addr)
				if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
					return nil, fmt.Errorf("%w: %s", ErrNoRoute, addr)
				}
				to = addr
			}
			return d.DialContext(ctx, network, to)
		},
		TLSClientConfig:     &tls.Config{RootCAs: n.pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
}

// Client is an HTTP client over Transport.
func (n *Net) Client() *http.Client {
	return &http.Client{Transport: n.Transport(), Timeout: 30 * time.Second}
}
