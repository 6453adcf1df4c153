package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/gatekeeper"
	"github.com/seed-12b584bc/ratify/test/podproc"
	"github.com/seed-12b584bc/ratify/test/tools"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// release is the guide's Helm release name; the chart's fullname, the
// Service and the Deployment are named after it.
const release = "ratify"

// healthAddr is where the chart's Deployment serves /readyz
// (--health-addr=:9099, the chart's healthPort).
const healthAddr = "127.0.0.1:9099"

// stack is the guide's cluster: a control plane, Gatekeeper with the
// guide's Helm values, the simulated Azure, and ratify installed by its
// chart and running as its Deployment's container would.
type stack struct {
	c      *cluster.Cluster
	gk     *gatekeeper.Gatekeeper
	cloud  *cloud
	signer *signer
	helm   string
	ratify *podproc.Process
	bin    string
	// mutation is the release's provider.enableMutation.
	mutation bool
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ratify-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ratify")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/seed-12b584bc/ratify/cmd/ratify").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// repoRoot is the repository, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// newStack starts everything but ratify's installation.
func newStack(t testing.TB) *stack {
	t.Helper()
	s := newClusterStack(t)
	s.cloud = newCloud(t)
	s.signer = newSigner(t, s.cloud.net, s.cloud.acr)
	return s
}

// newClusterStack is newStack without the simulated Azure: a control plane
// and Gatekeeper calling the chart's Provider URLs.
func newClusterStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{helm: tools.Path(t, "helm")}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	s.bin = bin
	s.c = cluster.Start(t)
	// Gatekeeper calls the chart's Provider URLs as written; only it sees
	// the Service names resolve, to this machine.
	s.gk = gatekeeper.Start(t, s.c, gatekeeper.Options{Hosts: []string{
		release + "." + ratifyNS, release + "." + ratifyNS + ".svc",
	}})
	return s
}

// helmRun runs the real helm against the cluster.
func (s *stack) helmRun(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.helm, append([]string{"--kubeconfig", s.c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(os.TempDir(), "ratify-e2e-helm"), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// install is `helm install` (or upgrade) of the chart with sets. There is
// no kubelet, so a hook Job would never complete: the release is
// installed without hooks and its hooks, but Jobs, are applied after, in
// the order helm gives them (the facts of the end-to-end recipe).
func (s *stack) install(t testing.TB, verb string, sets ...string) {
	t.Helper()
	args := []string{verb, release, filepath.Join(repoRoot(), "charts", "ratify"), "--namespace", ratifyNS, "--no-hooks"}
	if verb == "install" {
		args = append(args, "--create-namespace")
	} else {
		args = append(args, "--reuse-values")
	}
	for _, kv := range sets {
		args = append(args, "--set", kv)
	}
	s.helmRun(t, args...)
	s.mutation = !slices.Contains(sets, "provider.enableMutation=false")
	hooks := s.helmRun(t, "get", "hooks", release, "--namespace", ratifyNS)
	objs, err := podproc.Objects([]byte(hooks))
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, o := range objs {
		if o.GetKind() == "Job" || o.GetKind() == "Pod" {
			continue
		}
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if len(docs) > 0 {
		// helm leaves the namespace to --namespace, as kubectl -n does.
		file := filepath.Join(t.TempDir(), "hooks.yaml")
		if err := os.WriteFile(file, []byte(strings.Join(docs, "\n---\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		s.c.Kubectl(t, "apply", "--namespace", ratifyNS, "-f", file)
	}
}

// start runs ratify as the release's Deployment's container, with the
// environment the workload identity webhook injects when the pod asks
// for it, and waits until it is ready.
func (s *stack) start(t testing.TB) {
	t.Helper()
	if s.ratify != nil {
		s.ratify.Stop()
	}
	manifest := s.helmRun(t, "get", "manifest", release, "--namespace", ratifyNS)
	d, err := podproc.Deployment([]byte(manifest), release)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	if d.Spec.Template.Labels["azure.workload.identity/use"] == "true" {
		id := strings.TrimSpace(s.c.Kubectl(t, "-n", ratifyNS, "get", "serviceaccount", d.Spec.Template.Spec.ServiceAccountName,
			"-o", `jsonpath={.metadata.annotations.azure\.workload\.identity/client-id}`))
		if id == "" {
			t.Fatal("the pod asks for a workload identity, but its ServiceAccount names no client ID")
		}
		env = s.cloud.webhookEnv(id)
	}
	// The container's ports are the chart's, fixed: another process on one
	// of them would answer in ratify's place, or make it exit.
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p.ContainerPort))
			if err != nil {
				t.Fatalf("port %d of the chart's Deployment (%s) is taken on this machine: %v", p.ContainerPort, p.Name, err)
			}
			ln.Close()
		}
	}
	s.ratify = podproc.Run(t, d, podproc.Options{Config: s.c.Config, Namespace: ratifyNS, Binary: s.bin, Env: env})
	t.Logf("ratify runs as %s", strings.Join(s.ratify.Args[1:], " "))
	s.waitReady(t)
}

// waitReady waits for the health port's /readyz.
func (s *stack) waitReady(t testing.TB) {
	t.Helper()
	wait.For(t, 90*time.Second, "ratify ready", func() string {
		if done, err := s.ratify.Exited(); done {
			t.Fatalf("ratify exited: %v\n%s", err, s.ratify.Logs())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+healthAddr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
}

// kubectlRun is `kubectl run name --image=image` in namespace default.
func (s *stack) kubectlRun(name, image string) (string, error) {
	return s.kubectlRunIn("default", name, image)
}

// kubectlRunIn is `kubectl run name --image=image` in namespace ns: the
// pod's image as created, or kubectl's error (Gatekeeper's message).
func (s *stack) kubectlRunIn(ns, name, image string) (string, error) {
	if _, err := s.c.TryKubectl("run", name, "--namespace", ns, "--image="+image, "--restart=Never"); err != nil {
		return "", err
	}
	return s.c.TryKubectl("get", "pod", name, "--namespace", ns, "-o", "jsonpath={.spec.containers[0].image}")
}
