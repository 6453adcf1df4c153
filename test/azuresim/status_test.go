package azuresim_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/controller"
	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// TestStoreStatusShowsRefusedExchange runs ratify's controllers (in this
// process, on a real etcd and kube-apiserver) with the guide's Store on
// the simulated ACR, which refuses the token exchange: the signed image
// is denied, and the Store's status, which kubectl shows, names the
// registry and ACR's answer. Once ACR exchanges again, the next
// verification admits the image and the status is a success again: the
// status is what the store in use observed, not a check of its YAML
// (which is valid throughout).
func TestStoreStatusShowsRefusedExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := newCloud(t)
	repo := c.acr.Repository(t, c.net, "ratify-demo/net-monitor")
	signed := c.push(t, repo, acrName, "ratify-demo/net-monitor", true)
	c.acr.RefuseExchange(http.StatusUnauthorized, "UNAUTHORIZED", "identity "+clientID+" has no AcrPull role assignment on ratifytest")

	k := cluster.Start(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	shared := engine.NewShared(engine.Options{Namespace: "default", Logger: log, StoreOptions: oras.Options{
		IdentityTransport: c.net.Transport(),
		WrapTransport:     func(http.RoundTripper) http.RoundTripper { return c.net.Transport() },
	}})
	// current is the engine of the guide's configuration, once in force.
	var current atomic.Pointer[engine.Engine]
	m, err := controller.New(controller.Options{Config: k.Config, Namespace: "default", Checker: shared, Logger: log,
		Apply: func(ctx context.Context, res *config.Resources) error {
			e, err := shared.Build(ctx, res)
			if err == nil && len(res.Stores) == 1 && len(res.KMPs) == 1 && len(res.Verifiers) == 1 {
				current.Store(e)
			}
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	k.Apply(t, c.guideYAML(t, ""))

	// verify waits for the guide's configuration and verifies signed.
	verify := func() engine.Decision {
		t.Helper()
		wait.For(t, 60*time.Second, "the guide's configuration in force", func() string {
			if current.Load() == nil {
				return "not yet"
			}
			return ""
		})
		return evaluate(t, current.Load(), signed)
	}
	if d := verify(); d.Allow || !strings.Contains(strings.Join(d.Reasons, "\n"), "no AcrPull role assignment") {
		t.Fatalf("with the exchange refused: allow=%v %q", d.Allow, d.Reasons)
	}
	status := func() string { return k.Status(t, "store", "", "store-oras") }
	took := wait.For(t, 30*time.Second, "the Store's status names the refusal", func() string {
		if s := status(); !strings.HasPrefix(s, "false|") || !strings.Contains(s, acrName) || !strings.Contains(s, "no AcrPull role assignment") {
			return s
		}
		return ""
	})
	t.Logf("status after %s: %s", took, status())
	t.Logf("kubectl get store:\n%s", k.Kubectl(t, "get", "store"))

	c.acr.RefuseExchange(0, "", "")
	if d := verify(); !d.Allow {
		t.Fatalf("with the exchange granted again: %q", d.Reasons)
	}
	wait.For(t, 30*time.Second, "the Store's status is a success again", func() string {
		if s := status(); s != "true|" {
			return s
		}
		return ""
	})
}
