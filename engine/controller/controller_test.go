package controller_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/controller"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/cluster"
)

// applied records the configurations a Manager put in force.
type applied struct {
	mu   sync.Mutex
	last *config.Resources
	n    int
}

func (a *applied) apply(_ context.Context, res *config.Resources) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last, a.n = res, a.n+1
	return nil
}

func (a *applied) get() *config.Resources {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// start runs a Manager on c until the test ends.
func start(t *testing.T, c *cluster.Cluster) *applied {
	t.Helper()
	a := &applied{}
	m, err := controller.New(controller.Options{Config: c.Config, Namespace: "default", Apply: a.apply, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	select {
	case <-m.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("the manager was not ready in 60s")
	}
	return a
}

// eventually polls f until it returns "" or the time is up.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func keyPEM(t *testing.T) string {
	t.Helper()
	k, err := sample.NewCosignKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicPEM()
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// regexpLine reports whether a line of out matches re.
func regexpLine(out, re string) bool {
	return regexp.MustCompile("(?m)^" + re).MatchString(out)
}

func kmpDoc(name, params string) string {
	return "apiVersion: config.ratify.deislabs.io/v1beta1\nkind: KeyManagementProvider\nmetadata: {name: " + name + "}\nspec:\n  type: inline\n  parameters: " + params + "\n"
}

// TestStatusAndSnapshot: a valid resource is in force and says so; an
// invalid one says why, and an invalid new spec of a valid resource
// leaves the old one in force; a deleted one leaves the configuration.
func TestStatusAndSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := cluster.Start(t)
	a := start(t, c)
	good := kmpDoc("cosign-key", `{contentType: key, value: `+quote(keyPEM(t))+`}`)
	c.Apply(t, good)
	c.Apply(t, kmpDoc("no-content-type", `{value: `+quote(keyPEM(t))+`}`))

	eventually(t, "the valid provider in force", func() string {
		if res := a.get(); res == nil || len(res.KMPs) != 1 || res.KMPs[0].Name != "cosign-key" {
			return "not applied yet"
		}
		return ""
	})
	eventually(t, "status columns", func() string {
		out := c.Kubectl(t, "get", "keymanagementproviders")
		if !strings.Contains(out, "cosign-key") || !regexpLine(out, `cosign-key\s+true\s`) ||
			!regexpLine(out, `no-content-type\s+false\s+.*contentType is required`) {
			return out
		}
		return ""
	})
	props := c.Kubectl(t, "get", "keymanagementprovider", "cosign-key", "-o", "jsonpath={.status.properties}")
	if !strings.Contains(props, `"Keys"`) || !strings.Contains(props, `"Enabled":"true"`) || strings.Contains(props, "PUBLIC KEY") {
		t.Fatalf("properties %s: want the key's name, version, enabled, never the key", props)
	}

	// An invalid new spec: refused, the old one in force.
	c.Apply(t, kmpDoc("cosign-key", `{contentType: key, value: "not a key"}`))
	eventually(t, "the refusal in status", func() string {
		out := c.Kubectl(t, "get", "keymanagementprovider", "cosign-key", "-o", "jsonpath={.status.issuccess} {.status.error}")
		if !strings.HasPrefix(out, "false ") || !strings.HasSuffix(out, "(generation 2 was refused, generation 1 stays in force)") {
			return out
		}
		return ""
	})
	if res := a.get(); len(res.KMPs) != 1 || !strings.Contains(string(res.KMPs[0].Spec.Parameters.Raw), "PUBLIC KEY") {
		t.Fatalf("the last valid version is not in force: %+v", res.KMPs)
	}

	c.Kubectl(t, "delete", "keymanagementprovider", "cosign-key")
	eventually(t, "deleted", func() string {
		if n := len(a.get().KMPs); n != 0 {
			return "still in force"
		}
		return ""
	})
}

// TestVerifierAndPolicyStatus: a Verifier naming a provider that does not
// exist says so until it does; a Policy not named ratify-policy says it is
// ignored; a Verifier whose trust policy does not parse is refused.
func TestVerifierAndPolicyStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := cluster.Start(t)
	a := start(t, c)
	c.Apply(t, `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: later-key}]}]
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores: {certs: [later-key]}
    trustPolicyDoc: {version: "1.0", trustPolicies: [{name: default, registryScopes: ["*"], signatureVerification: {level: strict}, trustStores: ["ca:certs"]}]}
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: my-policy}
spec: {type: config-policy}
`)
	status := func(kind, name string) string {
		return c.Kubectl(t, "get", kind, name, "-o", "jsonpath={.status.issuccess} {.status.error}")
	}
	want := func(kind, name, prefix string) {
		eventually(t, kind+" "+name, func() string {
			if got := status(kind, name); !strings.HasPrefix(got, prefix) {
				return got
			}
			return ""
		})
	}
	want("verifier", "verifier-cosign", "false key management provider later-key does not exist")
	want("verifier", "verifier-notation", "false spec.parameters.trustPolicyDoc: ")
	want("policy", "my-policy", "false a policy must be named ratify-policy")
	if res := a.get(); len(res.Policies) != 0 || len(res.Verifiers) != 1 {
		t.Fatalf("in force: %d policies, %d verifiers; want the cosign verifier alone", len(res.Policies), len(res.Verifiers))
	}
	c.Apply(t, kmpDoc("later-key", `{contentType: key, value: `+quote(keyPEM(t))+`}`))
	want("verifier", "verifier-cosign", "true")
}
