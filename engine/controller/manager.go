package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// Options configure a Manager.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// Namespace is ratify's own: where the leader election Lease lives.
	Namespace string
	// Apply builds a configuration and puts it in force; an error leaves
	// the previous one in force.
	Apply func(ctx context.Context, res *config.Resources) error
	// Checker checks providers on the state Apply builds on (the same
	// *engine.Shared); nil: a Shared of the controller's own.
	Checker Checker
	// Debounce is how long a rebuild waits for changes to stop, so a
	// burst of changes is one rebuild (default 50ms); a rebuild never
	// waits more than maxWaits Debounces after the first change.
	Debounce time.Duration
	// LeaderElection makes status writes the job of the Lease holder; off,
	// this process writes status (one replica, or tests).
	LeaderElection bool
	// Setup, when set, adds more to the controller-runtime manager in New
	// (certificate rotation's runnables), so that they share its client,
	// its Lease and its lifetime rather than a second manager's.
	Setup func(manager.Manager) error
	// Permissions are what Setup's additions need, checked at start with
	// the controllers' own.
	Permissions []Permission
	// Prepare, when set, runs in Start once the permissions are checked,
	// before anything else starts: what Setup's additions need in place
	// (certificate rotation's Secret, which cert-controller only fills).
	Prepare func(ctx context.Context) error
	Logger  *slog.Logger
}

// Manager runs the controllers.
type Manager struct {
	opts   Options
	mgr    manager.Manager
	client client.Client
	kinds  []*kind
	snap   *snapshot
	log    *slog.Logger
	notify chan struct{}
	ready  chan struct{}
	status *statusWriter
	// statusDue asks writeStatus for a pass after a rebuild.
	statusDue chan struct{}
}

// New sets up the controllers of every kind; Start runs them.
func New(opts Options) (*Manager, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Checker == nil {
		opts.Checker = engine.NewShared(engine.Options{Logger: opts.Logger})
	}
	mgr, err := ctrl.NewManager(opts.Config, manager.Options{
		Scheme:                        v1beta1.NewScheme(),
		Logger:                        logr.FromSlogHandler(opts.Logger.Handler()),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              "ratify-status.config.ratify.deislabs.io",
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	m := &Manager{
		opts: opts, mgr: mgr, client: mgr.GetClient(), kinds: kinds(opts.Checker), snap: newSnapshot(),
		log: opts.Logger, notify: make(chan struct{}, 1), ready: make(chan struct{}),
		statusDue: make(chan struct{}, 1),
	}
	m.status = &statusWriter{client: mgr.GetClient(), snap: m.snap, log: m.log, elected: mgr.Elected(), ownNamespace: opts.Namespace, written: map[key]observedStatus{}}
	for _, k := range m.kinds {
		err := builder.ControllerManagedBy(mgr).
			Named(k.name).
			// Status writes do not change the generation, so they do not
			// come back as reconciles.
			For(k.newObj(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			// Every replica reconciles: each serves from its own snapshot.
			// Several managers may run in one process (tests, benchmarks);
			// ratify does not serve controller-runtime's metrics.
			WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), SkipNameValidation: ptr.To(true)}).
			Complete(m.reconciler(k))
		if err != nil {
			return nil, fmt.Errorf("controller of %s: %w", k.name, err)
		}
	}
	// Every replica rebuilds: each serves from its own snapshot.
	if err := mgr.Add(replicaRunnable(m.rebuild)); err != nil {
		return nil, err
	}
	if err := mgr.Add(leaderRunnable(m.writeStatus)); err != nil {
		return nil, err
	}
	if opts.Setup != nil {
		if err := opts.Setup(mgr); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ErrForbidden means ratify lacks a permission the controllers need.
var ErrForbidden = errors.New("missing permission")

// Start checks ratify's permissions, runs Prepare, then runs the
// controllers until ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	if err := Check(ctx, m.opts.Config, m.opts.Namespace, m.opts.LeaderElection, m.opts.Permissions...); err != nil {
		return err
	}
	if m.opts.Prepare != nil {
		if err := m.opts.Prepare(ctx); err != nil {
			return err
		}
	}
	return m.mgr.Start(ctx)
}

// Ready is closed once the first configuration, from every resource the
// cluster held at start, is in force.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

func (m *Manager) reconciler(k *kind) reconcile.Func {
	return func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		obj := k.newObj()
		kk := key{k.name, req.Namespace, req.Name}
		if err := m.client.Get(ctx, req.NamespacedName, obj); err != nil {
			if apierrors.IsNotFound(err) {
				m.snap.remove(kk)
				m.status.forget(kk)
				m.changed()
				return reconcile.Result{}, nil
			}
			return reconcile.Result{}, err
		}
		transient := m.observe(ctx, k, obj)
		m.changed()
		if transient != nil {
			// Backoff and retry: the last valid version stays in force.
			return reconcile.Result{}, transient
		}
		if k.refresh != nil {
			if d := k.refresh(obj); d > 0 {
				return reconcile.Result{RequeueAfter: d}, nil
			}
		}
		return reconcile.Result{}, nil
	}
}

// observe checks one resource and records the outcome; it returns the
// error when it may pass on retry.
func (m *Manager) observe(ctx context.Context, k *kind, obj client.Object) error {
	material, err := k.check(ctx, obj)
	if err != nil && isTransient(err) {
		m.log.Warn("resource check failed, will retry", "kind", k.name, "namespace", obj.GetNamespace(), "name", obj.GetName(), "err", err)
		m.snap.retry(key{k.name, obj.GetNamespace(), obj.GetName()}, k, obj, err)
		return err
	}
	m.snap.observe(key{k.name, obj.GetNamespace(), obj.GetName()}, k, obj, material, err)
	return nil
}

func isTransient(err error) bool {
	return oras.IsTransient(err) || errors.Is(err, kmp.ErrTransient) || errors.Is(err, context.DeadlineExceeded)
}

// changed asks for a rebuild.
func (m *Manager) changed() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// rebuild puts the snapshot in force: first once every resource of the
// cache has been checked (a configuration built from part of the cluster
// could lack a namespace's policy), then after each burst of changes.
func (m *Manager) rebuild(ctx context.Context) error {
	if !m.mgr.GetCache().WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	m.log.Debug("caches synced; checking every resource")
	for _, k := range m.kinds {
		list := k.newList()
		m.log.Debug("listing", "kind", k.name)
		if err := m.client.List(ctx, list); err != nil {
			return fmt.Errorf("listing %s: %w", k.name, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, it := range items {
			// A check that may pass later is retried by the resource's
			// reconciler, with backoff; until then the resource is absent
			// (its users are denied with the reason), never waited for.
			_ = m.observe(ctx, k, it.(client.Object))
		}
	}
	m.apply(ctx)
	close(m.ready)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.notify:
		}
		if !m.settle(ctx) {
			return nil
		}
		m.apply(ctx)
	}
}

// maxWaits bounds how long a rebuild waits during a stream of changes, in
// Debounces (500ms by default).
const maxWaits = 10

// settle waits until Debounce passes without a change, or maxWaits
// Debounces since the first one; false when ctx ends. Every rebuild is a
// new revision under which no cached decision applies, so a stream of
// changes rebuilt every Debounce (200 changes in 1.4 s: 26 rebuilds) made
// the first request after each evaluate its keys again, and a rebuild that
// changes 100 namespaces' policies compiles for seconds.
func (m *Manager) settle(ctx context.Context) bool {
	quiet := time.NewTimer(m.opts.Debounce)
	defer quiet.Stop()
	limit := time.NewTimer(maxWaits * m.opts.Debounce)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-m.notify:
			quiet.Reset(m.opts.Debounce)
		case <-quiet.C:
			return true
		case <-limit.C:
			return true
		}
	}
}

func (m *Manager) apply(ctx context.Context) {
	start := time.Now()
	res := m.snap.resources()
	if err := m.opts.Apply(ctx, res); err != nil {
		m.log.Error("configuration refused; the previous one stays in force", "err", err)
	} else {
		m.log.Info("configuration applied", "took", time.Since(start))
	}
	select {
	case m.statusDue <- struct{}{}:
	default:
	}
}

// writeStatus writes what this replica observed of everything once it
// holds the Lease and has a configuration in force, then after each
// rebuild. It runs apart from rebuilds: a status write is one API call
// per resource, under the client's rate limit (5 per second by default),
// so a burst of changes would otherwise hold the next configuration back
// by seconds.
func (m *Manager) writeStatus(ctx context.Context) error {
	select {
	case <-m.ready:
	case <-ctx.Done():
		return nil
	}
	// What the engine observes of resources in use (a Store's token
	// exchanges) changes without a rebuild: a pass every observedInterval
	// writes it. A pass that finds nothing changed makes no API call.
	tick := time.NewTicker(observedInterval)
	defer tick.Stop()
	for {
		m.status.writeAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-m.statusDue:
		case <-tick.C:
		}
	}
}

// observedInterval is how often status is brought up to date with what the
// engine observed of resources in use.
const observedInterval = 10 * time.Second

// leaderRunnable runs f once this process holds the Lease.
type leaderRunnable func(ctx context.Context) error

func (f leaderRunnable) Start(ctx context.Context) error { return f(ctx) }
func (leaderRunnable) NeedLeaderElection() bool          { return true }

// replicaRunnable runs f whether or not this process holds the Lease (a
// plain manager.RunnableFunc would wait for it).
type replicaRunnable func(ctx context.Context) error

func (f replicaRunnable) Start(ctx context.Context) error { return f(ctx) }
func (replicaRunnable) NeedLeaderElection() bool          { return false }
