// Package cluster starts a real Kubernetes control plane for tests: the
// etcd and kube-apiserver binaries that test/tools/install.sh builds, driven
// by controller-runtime's envtest, with ratify's CRDs (crds/manifests)
// installed and served. There is no kubelet: nothing scheduled ever runs.
//
// A missing binary skips the test locally and fails it when CI=true (see
// test/tools).
package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/seed-12b584bc/ratify/test/tools"
)

// startTimeout bounds each of etcd and kube-apiserver coming up. envtest's
// default of 20s is too short for kube-apiserver on a busy two-core machine;
// KUBEBUILDER_CONTROLPLANE_START_TIMEOUT still overrides it.
const startTimeout = 2 * time.Minute

// ErrKubectl is returned by TryKubectl when kubectl exits non-zero.
var ErrKubectl = errors.New("kubectl failed")

// Cluster is a running control plane, stopped when the test ends.
type Cluster struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for Config, for CLIs
	// (kubectl --kubeconfig, ratify serve --kubeconfig).
	Kubeconfig string

	kubectl string
	env     *envtest.Environment
}

// User returns a configuration that reaches the API server as the user
// name, a member of no group but system:authenticated: it may do only
// what RBAC grants it.
func (c *Cluster) User(t testing.TB, name string) *rest.Config {
	t.Helper()
	u, err := c.env.AddUser(envtest.User{Name: name}, c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return u.Config()
}

// Start starts etcd and kube-apiserver, installs ratify's CRDs and waits
// until they are served. The control plane stops in t.Cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiserver := tools.Path(t, "kube-apiserver")
	etcd := tools.Path(t, "etcd")
	kubectl := tools.Path(t, "kubectl")

	env := &envtest.Environment{
		// The paths are set one by one so that a KUBEBUILDER_ASSETS or
		// TEST_ASSET_* left in the environment cannot swap in other binaries
		// than the pinned ones test/tools resolved (RATIFY_TOOL_* included).
		BinaryAssetsDirectory: filepath.Join(tools.Dir(), "bin"),
		CRDDirectoryPaths:     []string{crdDir()},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = startTimeout
	}
	env.ControlPlane.GetAPIServer().Path = apiserver
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	env.ControlPlane.KubectlPath = kubectl

	began := time.Now()
	cfg, err := env.Start()
	if err != nil {
		// A half-started control plane still has processes to end.
		_ = env.Stop()
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Logf("control plane with ratify's CRDs up in %s", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return &Cluster{Config: cfg, Kubeconfig: kubeconfig, kubectl: kubectl, env: env}
}

// Kubectl runs the real kubectl against the cluster and returns its
// standard output; a non-zero exit fails the test with kubectl's stderr.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	stdout, err := c.TryKubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout
}

// TryKubectl runs kubectl like Kubectl, for commands expected to be refused:
// a non-zero exit is an error wrapping ErrKubectl, with kubectl's stderr.
func (c *Cluster) TryKubectl(args ...string) (string, error) {
	return c.run("", args...)
}

// Apply runs `kubectl apply -f -` with the YAML documents docs.
func (c *Cluster) Apply(t testing.TB, docs string) string {
	t.Helper()
	stdout, err := c.run(docs, "apply", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	return stdout
}

func (c *Cluster) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: kubectl %s: %v: %s",
			ErrKubectl, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// crdDir is the repository's crds/manifests, found from this file so that
// any package's tests can start a cluster.
func crdDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "crds", "manifests")
}
