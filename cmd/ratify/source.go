package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/go-logr/logr"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/controller"
	"github.com/seed-12b584bc/ratify/engine/server"
)

// source returns what keeps the server's configuration: the file of -c
// (loaded now, so a bad file fails the start), or the cluster's resources.
func (o *serveOpts) source(a *app, srv *server.Server) (func(context.Context) error, error) {
	shared := engine.NewShared(srv.EngineOptions(o.engine))
	apply := func(ctx context.Context, res *config.Resources, from string) error {
		res.Warn(a.log)
		eng, err := shared.Build(ctx, res)
		if err != nil {
			return err
		}
		for _, w := range eng.Warnings() {
			a.log.Warn(w)
		}
		srv.SetEngine(eng)
		a.log.Info("configuration loaded", "from", from, "revision", eng.Revision())
		return nil
	}
	if !o.clusterMode() {
		if o.config == "" {
			return nil, errors.New("no configuration: give -c RESOURCES, or run in a cluster, with --kubeconfig or with KUBECONFIG set")
		}
		watch, err := watchFile(a.log, o.config, func(ctx context.Context, res *config.Resources) error { return apply(ctx, res, o.config) })
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return watch(ctx, o.reload) }, nil
	}
	if o.config != "" {
		a.log.Warn("-c is ignored: the resources come from the cluster", "file", o.config)
	}
	cfg, err := restConfig(o.kubeconfig, o.kubeconfigFromEnv)
	if err != nil {
		return nil, err
	}
	ctrllog.SetLogger(logr.FromSlogHandler(a.log.Handler()))
	opts := controller.Options{
		Config: cfg, Namespace: engine.OwnNamespace(o.engine.Namespace), Logger: a.log,
		LeaderElection: o.leaderElect,
		Checker:        shared,
		Apply:          func(ctx context.Context, res *config.Resources) error { return apply(ctx, res, "cluster") },
	}
	if o.certRotation {
		r := &certRotation{namespace: opts.Namespace, service: o.serviceName, certDir: o.serve.CertDir, log: a.log}
		opts.Setup, opts.Permissions, opts.Prepare = r.setup, r.permissions(), r.prepare
		a.log.Info("certificate rotation on", "secret", r.secret().String(), "dnsName", r.dnsName(), "certDir", r.certDir, "providers", rotatedProviders)
	}
	m, err := controller.New(opts)
	if err != nil {
		return nil, err
	}
	return m.Start, nil
}

// clusterMode is whether the resources come from a cluster: --kubeconfig;
// without -c (or with --enable-crd-manager), $KUBECONFIG, as kubectl reads
// it, or the pod's service account.
func (o *serveOpts) clusterMode() bool {
	if o.kubeconfig == "" && (o.config == "" || o.crdManager) {
		if env := os.Getenv("KUBECONFIG"); env != "" {
			o.kubeconfig, o.kubeconfigFromEnv = env, true
		}
	}
	return o.kubeconfig != "" || o.crdManager || o.config == "" && inCluster()
}

func inCluster() bool {
	_, err := rest.InClusterConfig()
	return err == nil
}

// restConfig reaches the cluster of kubeconfig: a file (--kubeconfig), a
// list of files merged as kubectl merges $KUBECONFIG (fromEnv), or, when
// empty, the pod's service account.
func restConfig(kubeconfig string, fromEnv bool) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case kubeconfig == "":
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
	case fromEnv:
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(kubeconfig)}
		if cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig(); err != nil {
			return nil, fmt.Errorf("KUBECONFIG=%s: %w", kubeconfig, err)
		}
	default:
		if cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
	}
	// client-go's default, 5 requests a second, would take minutes to
	// write the status of a thousand resources; the API server's own
	// priority and fairness still applies.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// watchFile loads path now, then returns a loop that loads it again
// whenever its content changes; a version that does not load is logged
// and the last good one stays in force.
func watchFile(log *slog.Logger, path string, apply func(context.Context, *config.Resources) error) (func(ctx context.Context, every time.Duration) error, error) {
	load := func(ctx context.Context) ([32]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return [32]byte{}, err
		}
		res, err := config.Load(bytes.NewReader(b))
		if err != nil {
			return [32]byte{}, fmt.Errorf("%s: %w", path, err)
		}
		return sha256.Sum256(b), apply(ctx, res)
	}
	sum, err := load(context.Background())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, every time.Duration) error {
		if every <= 0 {
			<-ctx.Done()
			return nil
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			b, err := os.ReadFile(path)
			if err != nil || sha256.Sum256(b) == sum {
				continue
			}
			next, err := load(ctx)
			if err != nil {
				log.Error("configuration file refused; the last good one stays in force", "file", path, "err", err)
				sum = sha256.Sum256(b) // do not retry the same content
				continue
			}
			sum = next
		}
	}, nil
}
