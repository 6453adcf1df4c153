package controller_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/engine/controller"
	"github.com/seed-12b584bc/ratify/test/cluster"
)

// TestPermissions: without RBAC ratify says at start what it may not do;
// with the documented rules (rbac.yaml, bound to the user) it may do all.
func TestPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := cluster.Start(t)
	user := c.User(t, "ratify-test")
	ctx := context.Background()
	err := controller.Check(ctx, user, "gatekeeper-system", true)
	if !errors.Is(err, controller.ErrForbidden) || !strings.Contains(err.Error(), "may not get stores.config.ratify.deislabs.io cluster-wide") {
		t.Fatalf("without RBAC: %v", err)
	}
	rbac, err := os.ReadFile("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The documented rules, bound to the test's user instead of the
	// chart's service account.
	docs := strings.ReplaceAll(string(rbac), "{kind: ServiceAccount, name: ratify-admin, namespace: gatekeeper-system}",
		"{kind: User, name: ratify-test, apiGroup: rbac.authorization.k8s.io}")
	c.Kubectl(t, "create", "namespace", "gatekeeper-system")
	c.Apply(t, docs)
	if err := controller.Check(ctx, user, "gatekeeper-system", true); err != nil {
		t.Fatalf("with the documented RBAC: %v", err)
	}
	// Certificate rotation's Secret and Providers, by name.
	rotation := controller.CertRotationPermissions("gatekeeper-system", "ratify-tls", "ratify-provider", "ratify-mutation-provider")
	if err := controller.Check(ctx, user, "gatekeeper-system", true, rotation...); err != nil {
		t.Fatalf("certificate rotation with the documented RBAC: %v", err)
	}
	if err := controller.Check(ctx, user, "gatekeeper-system", true, controller.CertRotationPermissions("gatekeeper-system", "other-tls")...); !errors.Is(err, controller.ErrForbidden) || !strings.Contains(err.Error(), "may not get secrets other-tls in namespace gatekeeper-system") {
		t.Fatalf("another Secret: %v", err)
	}
	if err := controller.Check(ctx, user, "gatekeeper-system", true, controller.CertRotationPermissions("gatekeeper-system", "ratify-tls", "other-provider")...); !errors.Is(err, controller.ErrForbidden) || !strings.Contains(err.Error(), "may not get providers.externaldata.gatekeeper.sh other-provider cluster-wide") {
		t.Fatalf("another Provider: %v", err)
	}
	// The Lease lives in ratify's namespace only.
	if err := controller.Check(ctx, user, "default", true); !errors.Is(err, controller.ErrForbidden) || !strings.Contains(err.Error(), "leases.coordination.k8s.io in namespace default") {
		t.Fatalf("another namespace's leases: %v", err)
	}
}
