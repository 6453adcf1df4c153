package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // --pprof-addr
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/server"
)

type serveOpts struct {
	config     string
	kubeconfig string
	// kubeconfigFromEnv: kubeconfig is $KUBECONFIG, a list of files.
	kubeconfigFromEnv bool
	crdManager        bool
	leaderElect       bool
	reload            time.Duration
	pprofAddr         string
	certRotation      bool
	serviceName       string
	serve             server.ServeOptions
	server            server.Options
	engine            engine.Options
}

func newServeCmd(a *app) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve (-c RESOURCES | --kubeconfig FILE | in a cluster) --cert-dir DIR",
		Short: "Run the Gatekeeper external-data provider",
		Long: `serve answers Gatekeeper's external-data requests (ProviderRequest,
externaldata.gatekeeper.sh/v1beta1) at /ratify/gatekeeper/v1/verify and
/ratify/gatekeeper/v1/mutate, in Ratify's wire format: each key is an image,
optionally prefixed [namespace]; each item value is {isSuccess,
verifierReports, traceID, timestamp, version}; mutation answers the image
pinned to the digest verification resolved.

It serves HTTPS with --cert-dir (tls.crt and tls.key, reloaded when they
change); with --ca-cert-file, mutual TLS: only clients with a certificate from
that CA (Gatekeeper's) are served, and the CA file is reloaded with the
certificate. Without --ca-cert-file any client that reaches the port may ask
(a warning at start, and /readyz says so). --http serves plain HTTP for local
use, on 127.0.0.1:6001 unless --addr names another address. Prometheus
metrics are on --metrics-addr; /healthz and /readyz on the provider and, in
plain HTTP for kubelet probes, on --health-addr.

--cert-rotation (on when RATIFY_CERT_ROTATION is 1 or true, as Ratify's
feature flag) issues ratify's certificate in a cluster: the Lease holder
keeps the Secret <service>-tls in ratify's namespace filled with a CA and a
certificate for <service>.<namespace> (.svc, .svc.cluster.local), renewed
before they expire, and writes the CA into the caBundle of the Providers
ratify-provider and ratify-mutation-provider; every replica serves once the
Secret is mounted in --cert-dir (/readyz is not ready until then).
Deleting the Secret issues a new CA and certificate.

Every key is answered before the request's deadline: one not decided in time
gets an item error (Gatekeeper then denies), never a pass. SIGTERM stops
accepting connections and finishes the requests in flight.

--multi-tenancy honours the [namespace] prefix that Ratify's multi-tenancy
constraint template writes before each image; without it the prefix is part
of the image string and is denied, so a pod cannot choose another
namespace's policy. --require-digest denies images not pinned to a digest:
use it where tags are not mutated to digests (provider.enableMutation=false,
the Azure Policy add-on), since a tag can move after it was verified.

Where the configuration comes from:
  -c FILE              the resources in FILE (Store, KeyManagementProvider,
                       Verifier, Policy, ...), read again when it changes
                       (checked every --reload-interval); a file that no
                       longer loads leaves the last good one in force.
  --kubeconfig FILE    the config.ratify.deislabs.io resources of that
                       cluster, live: controllers watch every kind, write
                       each resource's status, and a change is in force on
                       the next request. Without -c, $KUBECONFIG is read as
                       kubectl reads it: a kubeconfig in the environment
                       means that cluster.
  in a cluster         the same, with the pod's service account (when -c is
                       not given, or with --enable-crd-manager, as Ratify's
                       chart passes it).
With several replicas each serves from its own view; the one holding the
Lease writes status (--leader-elect, on by default in a cluster).

Logs are JSON at RATIFY_LOG_LEVEL (debug, info, warning or error; info by
default), or debug with -v.`,
		Example: `  ratify serve -c resources.yaml --cert-dir /usr/local/tls --ca-cert-file /usr/local/tls/client-ca/ca.crt
  ratify serve -c resources.yaml --http --addr 127.0.0.1:6001
  ratify serve --kubeconfig ~/.kube/config --http
  RATIFY_CERT_ROTATION=1 RATIFY_NAME=ratify RATIFY_NAMESPACE=gatekeeper-system ratify serve --cert-dir /usr/local/tls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Servers log JSON, one event per line, with trace IDs.
			level, unknown := logLevel(os.Getenv("RATIFY_LOG_LEVEL"))
			if a.verbose {
				level, unknown = slog.LevelDebug, false
			}
			a.log = slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			if unknown {
				a.log.Warn("RATIFY_LOG_LEVEL is not one of debug, info, warning, error: logging at info", "RATIFY_LOG_LEVEL", os.Getenv("RATIFY_LOG_LEVEL"))
			}
			return o.run(cmd, a)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "resources YAML (Store, KeyManagementProvider, Verifier, Policy, ...)")
	f.StringVar(&o.serve.Addr, "addr", ":6001", "provider address (with --http the default is 127.0.0.1:6001)")
	f.StringVar(&o.serve.MetricsAddr, "metrics-addr", ":8888", `Prometheus metrics address ("-" disables)`)
	f.StringVar(&o.serve.HealthAddr, "health-addr", ":9099", `plain HTTP /healthz and /readyz for kubelet probes ("-" disables; off with --http unless given)`)
	f.StringVar(&o.serve.CertDir, "cert-dir", "", "directory with tls.crt and tls.key")
	f.BoolVar(&o.certRotation, "cert-rotation", false, "issue and renew the certificate in the Secret <service>-tls and the Providers' caBundle (default $RATIFY_CERT_ROTATION: 1 or true)")
	f.StringVar(&o.serviceName, "service-name", "", "ratify's Service, for --cert-rotation: the Secret <service>-tls and the name <service>.<namespace> (default $RATIFY_NAME, else ratify)")
	f.StringVar(&o.serve.ClientCAFile, "ca-cert-file", "", "CA of client certificates (Gatekeeper's): turns on mutual TLS")
	f.BoolVar(&o.serve.PlainHTTP, "http", false, "serve plain HTTP (local use only)")
	f.DurationVar(&o.server.VerifyTimeout, "verify-timeout", 2900*time.Millisecond, "deadline of a verification request")
	f.DurationVar(&o.server.MutateTimeout, "mutate-timeout", 950*time.Millisecond, "deadline of a mutation request")
	f.DurationVar(&o.server.CacheTTL, "cache-ttl", 10*time.Second, "how long a decision is reused, at most the Store's referrersCacheTTL (negative disables)")
	f.BoolVar(&o.server.MultiTenancy, "multi-tenancy", false, "honour the [namespace] prefix of keys (the multi-tenancy constraint template)")
	f.BoolVar(&o.engine.RequireDigest, "require-digest", false, "deny images not pinned to a digest (when tags are not mutated to digests)")
	f.StringVar(&o.engine.Namespace, "namespace", "", "ratify's own namespace: its Lease, its certificate Secret, and CertificateStores named without one (default $RATIFY_NAMESPACE, else gatekeeper-system)")
	f.IntVar(&o.server.MaxKeys, "max-keys", 256, "most keys accepted in one request")
	f.IntVar(&o.server.Workers, "workers", 64, "keys evaluated at once")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address (off by default)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "read the resources from this cluster (default without -c: $KUBECONFIG, else in a cluster the pod's service account)")
	f.BoolVar(&o.crdManager, "enable-crd-manager", false, "read the resources from the cluster even with -c (Ratify's flag; its -c file is then ignored)")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "in a cluster, only the holder of the Lease writes status")
	f.DurationVar(&o.reload, "reload-interval", 2*time.Second, "how often -c FILE is checked for changes (0: never)")
	return cmd
}

func (o *serveOpts) run(cmd *cobra.Command, a *app) error {
	if o.serve.PlainHTTP && (o.serve.CertDir != "" || o.serve.ClientCAFile != "") {
		return fail(exitError, fmt.Errorf("--http cannot be combined with --cert-dir or --ca-cert-file"))
	}
	o.server.Logger = a.log
	if os.Getenv("GOGC") == "" {
		// Most of the heap is caches; collecting at 50% growth instead of
		// 100% keeps the resident set near the cached data it needs, for a
		// little CPU. GOGC in the environment overrides this.
		debug.SetGCPercent(50)
	}
	if o.pprofAddr != "" {
		go func() {
			// The profiles are registered on http.DefaultServeMux by net/http/pprof.
			err := http.ListenAndServe(o.pprofAddr, nil) //nolint:gosec // an opt-in debugging endpoint
			a.log.Error("pprof server stopped", "err", err)
		}()
	}
	if o.serve.PlainHTTP && !cmd.Flags().Changed("addr") {
		o.serve.Addr = "127.0.0.1:6001"
	}
	if o.serve.PlainHTTP && !cmd.Flags().Changed("health-addr") {
		// The plain provider port answers the probes already.
		o.serve.HealthAddr = "-"
	}
	if err := o.rotationFlags(cmd, a.log); err != nil {
		return fail(exitError, err)
	}
	srv := server.New(o.server)
	o.engine.Logger = a.log
	src, err := o.source(a, srv)
	if err != nil {
		return fail(exitError, err)
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	// The configuration source runs beside the server; if it fails (a
	// permission missing, the API server gone for good), so does serve.
	var srcErr error
	srcDone := make(chan struct{})
	go func() {
		defer close(srcDone)
		if srcErr = src(ctx); srcErr != nil {
			a.log.Error("configuration source stopped", "err", srcErr)
			cancel()
		}
	}()
	err = srv.ListenAndServe(ctx, o.serve)
	cancel()
	<-srcDone
	if err == nil {
		err = srcErr
	}
	if err != nil {
		return fail(exitError, err)
	}
	return nil
}

// rotationFlags resolves --cert-rotation and --service-name from Ratify's
// environment (RATIFY_CERT_ROTATION, RATIFY_NAME) and refuses rotation
// where it cannot work.
func (o *serveOpts) rotationFlags(cmd *cobra.Command, log *slog.Logger) error {
	if v := os.Getenv("RATIFY_CERT_ROTATION"); v != "" && !cmd.Flags().Changed("cert-rotation") {
		on, err := strconv.ParseBool(v)
		if err != nil {
			log.Warn("RATIFY_CERT_ROTATION is neither 1 nor 0: certificate rotation stays off", "RATIFY_CERT_ROTATION", v)
		}
		o.certRotation = on
	}
	if o.serviceName == "" {
		o.serviceName = os.Getenv("RATIFY_NAME")
	}
	if o.serviceName == "" {
		o.serviceName = "ratify"
	}
	if !o.certRotation {
		return nil
	}
	switch {
	case o.serve.PlainHTTP:
		return errors.New("--cert-rotation (RATIFY_CERT_ROTATION) issues a TLS certificate: it cannot be combined with --http")
	case o.serve.CertDir == "":
		return fmt.Errorf("--cert-rotation (RATIFY_CERT_ROTATION) needs --cert-dir: where the Secret %s-tls is mounted", o.serviceName)
	case !o.clusterMode():
		return errors.New("--cert-rotation (RATIFY_CERT_ROTATION) needs a cluster, which keeps the certificate in a Secret and the CA in Gatekeeper's Providers: run in a pod, give --kubeconfig or set KUBECONFIG, without -c (or turn rotation off: RATIFY_CERT_ROTATION=0)")
	}
	o.serve.WaitForCert = true
	return nil
}

// logLevel is RATIFY_LOG_LEVEL as Ratify reads it (logrus' names, any
// case): trace and debug are debug, warn and warning warn, error, fatal and
// panic error; empty is info, and so is anything else (unknown true).
func logLevel(v string) (level slog.Level, unknown bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "trace", "debug":
		return slog.LevelDebug, false
	case "", "info":
		return slog.LevelInfo, false
	case "warn", "warning":
		return slog.LevelWarn, false
	case "error", "fatal", "panic":
		return slog.LevelError, false
	}
	return slog.LevelInfo, true
}
