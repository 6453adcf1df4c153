// Package server answers Gatekeeper's external-data requests
// (externaldata.gatekeeper.sh/v1beta1 ProviderRequest) at
// /ratify/gatekeeper/v1/verify and /mutate, with Ratify's wire format, over
// HTTPS (mutual TLS with Gatekeeper's CA) on :6001, and Prometheus metrics on
// their own port.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-12b584bc/ratify/engine"
)

// Paths of the provider endpoints, as in Ratify.
const (
	VerifyPath = "/ratify/gatekeeper/v1/verify"
	MutatePath = "/ratify/gatekeeper/v1/mutate"
)

// Version is reported in every item value.
const Version = "1.0.0"

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// VerifyTimeout and MutateTimeout bound a request: keys not decided by
	// then get an item error. Defaults 2.9s and 0.95s, as Ratify's executor.
	VerifyTimeout time.Duration
	MutateTimeout time.Duration
	// MaxKeys refuses requests with more keys; default 256.
	MaxKeys int
	// MaxBodyBytes refuses larger bodies; default 1 MiB.
	MaxBodyBytes int64
	// Workers bounds keys evaluated at once across requests; default 64
	// (evaluation mostly waits on registries).
	Workers int
	// CacheTTL is how long a decision is reused, passed to the engine
	// (EngineOptions): default 10s and never longer than the referrer TTL;
	// negative disables the decision cache. CacheBytes bounds it; default
	// 64 MiB.
	CacheTTL   time.Duration
	CacheBytes int64
	// MultiTenancy honours the `[namespace]` prefix of keys, which
	// Ratify's multi-tenancy constraint template writes. Off, a prefix is
	// part of the image string (and denied), since the default template
	// sends image strings as pod authors wrote them.
	MultiTenancy bool
	Logger       *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = 2900 * time.Millisecond
	}
	if o.MutateTimeout <= 0 {
		o.MutateTimeout = 950 * time.Millisecond
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 256
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Workers <= 0 {
		o.Workers = max(64, 8*runtime.GOMAXPROCS(0))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Server is the external-data provider: it decodes requests, answers
// their keys concurrently under the request's deadline with the engine's
// pipeline, and encodes the response. The engine can be swapped at any
// time (a configuration change); engines built on one engine.Shared keep
// its caches, and nothing cached under an old revision is reused.
type Server struct {
	opts    Options
	engine  atomic.Pointer[engine.Engine]
	sem     chan struct{}
	buffers sync.Pool
	metrics *metrics
	log     *slog.Logger
	// warning is what /readyz adds to "ok": a setting an operator should fix.
	warning atomic.Pointer[string]
	// pending, when set, is why the provider port is not open yet (its
	// certificate is being issued): /readyz is not ready meanwhile.
	pending atomic.Pointer[string]
}

// New returns a server; call SetEngine before serving.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{opts: opts, metrics: newMetrics(), log: opts.Logger, sem: make(chan struct{}, opts.Workers)}
}

// EngineOptions are the engine options the server needs: the item value
// encoding, the decision cache settings, the shared evaluation's deadline
// (the verification request's), and metrics hooks on builtins, the
// decision cache and registry traffic. Build engines with them.
func (s *Server) EngineOptions(o engine.Options) engine.Options {
	o.Encode = encode
	o.ObserveBuiltin = s.metrics.observeBuiltin
	o.ObserveCache = s.metrics.observeCache
	o.StoreOptions.WrapTransport = s.metrics.wrapTransport
	o.StoreOptions.ObserveExchange = s.metrics.observeExchange
	o.Providers.ObserveKeyVault = s.metrics.observeKeyVault
	if o.DecisionCacheTTL == 0 {
		o.DecisionCacheTTL = s.opts.CacheTTL
	}
	if o.DecisionCacheBytes == 0 {
		o.DecisionCacheBytes = s.opts.CacheBytes
	}
	if o.DecisionTimeout == 0 {
		o.DecisionTimeout = s.opts.VerifyTimeout
	}
	if o.Logger == nil {
		o.Logger = s.log
	}
	return o
}

// SetEngine makes e the engine answering requests from now on.
func (s *Server) SetEngine(e *engine.Engine) { s.engine.Store(e) }

// Handler routes the provider endpoints and health checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(VerifyPath, s.serveVerify)
	mux.HandleFunc(MutatePath, s.serveMutate)
	s.health(mux)
	return mux
}

// HealthHandler serves only /healthz and /readyz, with the provider's
// answers: the plain HTTP port of kubelet probes, which then need neither
// TLS nor a client certificate.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	s.health(mux)
	return mux
}

// health adds /healthz (the process answers) and /readyz (it would
// answer requests: its certificate is in place and the first
// configuration in force) to mux.
func (s *Server) health(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := s.pending.Load(); why != nil {
			http.Error(w, *why, http.StatusServiceUnavailable)
			return
		}
		if s.engine.Load() == nil {
			http.Error(w, "no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		msg := "ok"
		if warn := s.warning.Load(); warn != nil {
			msg += "; warning: " + *warn
		}
		_, _ = w.Write([]byte(msg))
	})
}

// MetricsHandler serves the Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }

// ServeOptions say where and how to listen.
type ServeOptions struct {
	Addr        string // default ":6001"
	MetricsAddr string // default ":8888"; "-" disables
	// HealthAddr serves /healthz and /readyz in plain HTTP, for kubelet
	// probes; "" or "-": they are on the provider port only.
	HealthAddr string
	// CertDir holds tls.crt and tls.key; reloaded when they change.
	CertDir string
	// WaitForCert keeps the provider port closed until the TLS files load,
	// instead of failing: the certificate is still being issued and
	// mounted (certificate rotation). /readyz says so meanwhile; metrics
	// and the health port are served.
	WaitForCert bool
	// ClientCAFile turns on mutual TLS: clients need a certificate from it.
	ClientCAFile string
	// PlainHTTP serves without TLS (local use only).
	PlainHTTP bool
	// Ready, when set, receives the bound provider address once listening.
	Ready func(addr string)
}

// certPoll is how often WaitForCert looks for the TLS files; a Secret
// volume is updated by the kubelet within about a minute.
const certPoll = 500 * time.Millisecond

// ListenAndServe serves until ctx ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context, o ServeOptions) error {
	if o.Addr == "" {
		o.Addr = ":6001"
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = ":8888"
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if !o.PlainHTTP {
		if o.CertDir == "" {
			return errors.New("HTTPS needs --cert-dir with tls.crt and tls.key (or --http for local use)")
		}
		if !o.WaitForCert {
			cfg, err := tlsConfig(o.CertDir, o.ClientCAFile)
			if err != nil {
				return err
			}
			srv.TLSConfig = cfg
		}
	}
	if o.PlainHTTP || o.ClientCAFile == "" {
		warn := "no client CA (--ca-cert-file): any client that reaches the provider port may ask it for decisions; Gatekeeper's CA should be the only one"
		if o.PlainHTTP {
			warn = "serving plain HTTP (--http): for local use only"
		}
		s.warning.Store(&warn)
		s.log.Warn(warn)
	}
	errc := make(chan error, 3)
	// The metrics and health ports open first: while the provider waits
	// for its certificate, probes are answered (not ready) and metrics
	// served.
	var side []*http.Server
	shutdown := func() error {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, hs := range side {
			_ = hs.Shutdown(shut)
		}
		return srv.Shutdown(shut)
	}
	serveSide := func(what, addr string, h http.Handler) error {
		if addr == "" || addr == "-" {
			return nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			_ = shutdown()
			return fmt.Errorf("%s: %w", what, err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		side = append(side, hs)
		go func() { errc <- hs.Serve(ln) }()
		s.log.Info(what+" listening", "addr", ln.Addr().String())
		return nil
	}
	if err := serveSide("metrics", o.MetricsAddr, s.MetricsHandler()); err != nil {
		return err
	}
	if err := serveSide("health", o.HealthAddr, s.HealthHandler()); err != nil {
		return err
	}
	if !o.PlainHTTP && o.WaitForCert {
		cfg, err := s.waitForCert(ctx, o, errc)
		if cfg == nil {
			_ = shutdown()
			return err
		}
		srv.TLSConfig = cfg
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		_ = shutdown()
		return err
	}
	go func() {
		if o.PlainHTTP {
			errc <- srv.Serve(ln)
		} else {
			errc <- srv.ServeTLS(ln, "", "")
		}
	}()
	s.log.Info("provider listening", "addr", ln.Addr().String(), "tls", !o.PlainHTTP, "mtls", o.ClientCAFile != "")
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		_ = shutdown()
		return err
	case <-ctx.Done():
	}
	return shutdown()
}

// waitForCert loads the TLS configuration once its files are in place,
// /readyz saying why it is not ready until then. It returns no
// configuration when ctx ends (nil error) or a side port fails.
func (s *Server) waitForCert(ctx context.Context, o ServeOptions, errc <-chan error) (*tls.Config, error) {
	why := fmt.Sprintf("waiting for the TLS certificate: tls.crt and tls.key in %s (the certificate Secret, once issued and mounted)", o.CertDir)
	s.pending.Store(&why)
	defer s.pending.Store(nil)
	tick := time.NewTicker(certPoll)
	defer tick.Stop()
	start, logged := time.Now(), time.Time{}
	for {
		cfg, err := tlsConfig(o.CertDir, o.ClientCAFile)
		if err == nil {
			s.log.Info("TLS certificate in place", "dir", o.CertDir, "waited", time.Since(start).Round(time.Millisecond))
			return cfg, nil
		}
		if time.Since(logged) > 30*time.Second {
			s.log.Info(why, "waited", time.Since(start).Round(time.Second), "err", err)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case err := <-errc:
			return nil, err
		case <-tick.C:
		}
	}
}
