// Package podproc runs the container of a rendered Deployment as a local
// process, doing for it what a kubelet would, for end-to-end tests on a
// control plane without nodes:
//
//   - the container's command and args as written, the image's
//     executable (command[0], or the entrypoint) replaced by a local one;
//   - its env: values, fieldRef (metadata.namespace, metadata.name,
//     spec.serviceAccountName) and secretKeyRef/configMapKeyRef read from the
//     API server;
//   - its secret, configMap and emptyDir volumes as directories under a
//     root, kept in sync with the API server the way a kubelet updates a
//     volume (the files behind a `..data` symlink swapped at once), and
//     every argument and env value that names a mount path rewritten to
//     that directory;
//   - the pod's ServiceAccount: a token from the TokenRequest API in a
//     kubeconfig named by KUBECONFIG, so the process reaches the API server
//     with exactly the permissions the chart's RBAC grants it.
//
// Nothing else of the pod spec (probes, security context, resources) is
// enforced; tests check those in the rendered manifests.
package podproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// volumeWait bounds the wait for a container's volumes to be mountable.
const volumeWait = time.Minute

// Options say how to run a Deployment's container.
type Options struct {
	// Config reaches the API server as an administrator (to read secrets
	// and request the ServiceAccount's token).
	Config *rest.Config
	// Binary replaces the container's command[0], or is the image's
	// entrypoint when the container gives args alone.
	Binary string
	// Container names the container; "" is the first.
	Container string
	// Env is added after the container's env (the environment a webhook
	// would inject, a proxy).
	Env []string
	// Namespace is the pod's, when the Deployment does not say (helm
	// manifests leave it to the release's --namespace); default "default".
	Namespace string
	// PodName is the pod's metadata.name (default: the Deployment's name
	// with a suffix, as a ReplicaSet names its pods).
	PodName string
	// Sync is how often volumes are brought up to date (default 200ms; a
	// kubelet takes up to a minute).
	Sync time.Duration
}

// Process is a running container.
type Process struct {
	// Args are the command line as run (paths rewritten).
	Args []string
	// Env is the environment the container's spec gave (after Options.Env).
	Env []string
	// Root holds the volumes: a mount path P is Root+P.
	Root string
	// Kubeconfig is the ServiceAccount's kubeconfig (KUBECONFIG).
	Kubeconfig string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

// Logs are the process's standard output and error so far.
func (p *Process) Logs() string { return p.logs.String() }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 10s).
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Run starts d's container as a process until the test ends.
func Run(t testing.TB, d *appsv1.Deployment, o Options) *Process {
	t.Helper()
	spec := d.Spec.Template.Spec
	var c *corev1.Container
	for i := range spec.Containers {
		if o.Container == "" || spec.Containers[i].Name == o.Container {
			c = &spec.Containers[i]
			break
		}
	}
	if c == nil {
		t.Fatalf("deployment %s has no container %q", d.Name, o.Container)
	}
	cs, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		t.Fatal(err)
	}
	if o.PodName == "" {
		o.PodName = d.Name + "-5d8c9f7b6-local"
	}
	if o.Sync == 0 {
		o.Sync = 200 * time.Millisecond
	}
	ns := d.Namespace
	if ns == "" {
		ns = o.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	p := &Process{Root: t.TempDir(), logs: &syncBuffer{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// Volumes.
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	var mounts []string
	var syncs []func(context.Context) error
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Fatalf("volume mount %s names no volume", m.Name)
		}
		dir := filepath.Join(p.Root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, m.MountPath)
		if f := volumeSync(cs, ns, v, dir); f != nil {
			// As a kubelet, the container starts once its volumes can be
			// mounted: a Secret nobody creates keeps it from starting.
			deadline := time.Now().Add(volumeWait)
			for err := f(ctx); err != nil && !optional(v); err = f(ctx) {
				if time.Now().After(deadline) {
					t.Fatalf("volume %s could not be mounted in %s (the pod would not start): %v", v.Name, volumeWait, err)
				}
				time.Sleep(o.Sync)
			}
			syncs = append(syncs, f)
		}
	}
	// Longest mount path first, so that /a/b wins over /a.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	rewrite := func(s string) string {
		for _, m := range mounts {
			if i := strings.Index(s, m); i >= 0 && (len(s) == i+len(m) || s[i+len(m)] == '/') {
				return s[:i] + filepath.Join(p.Root, m) + s[i+len(m):]
			}
		}
		return s
	}
	go func() {
		tick := time.NewTicker(o.Sync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, f := range syncs {
					_ = f(ctx)
				}
			}
		}
	}()

	// Env.
	pod := map[string]string{"metadata.namespace": ns, "metadata.name": o.PodName, "spec.serviceAccountName": spec.ServiceAccountName}
	for _, e := range c.Env {
		val := e.Value
		if e.ValueFrom != nil {
			if val, err = envFrom(ctx, cs, ns, pod, e.ValueFrom); err != nil {
				t.Fatalf("env %s: %v", e.Name, err)
			}
		}
		p.Env = append(p.Env, e.Name+"="+rewrite(expand(val, p.Env)))
	}

	// The ServiceAccount's kubeconfig.
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	p.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := writeKubeconfig(ctx, cs, o.Config, ns, sa, p.Kubeconfig); err != nil {
		t.Fatal(err)
	}

	// Command line: $(VAR) references expanded as the kubelet does. The
	// binary stands for command[0], or for the image's entrypoint when the
	// spec gives args alone.
	argv := append([]string{o.Binary}, c.Args...)
	if len(c.Command) > 0 {
		argv = append(append([]string{o.Binary}, c.Command[1:]...), c.Args...)
	}
	for i := 1; i < len(argv); i++ {
		argv[i] = rewrite(expand(argv[i], p.Env))
	}
	p.Args = argv
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = p.Root
	p.cmd.Env = append(append(append([]string{"HOME=" + p.Root, "PATH=" + os.Getenv("PATH")}, p.Env...), o.Env...), "KUBECONFIG="+p.Kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", d.Name, tail(p.Logs(), 60))
		}
	})
	return p
}

// optional reports whether a missing source is allowed (the volume
// stays empty until it appears, as with a kubelet).
func optional(v corev1.Volume) bool {
	switch {
	case v.Secret != nil:
		return v.Secret.Optional != nil && *v.Secret.Optional
	case v.ConfigMap != nil:
		return v.ConfigMap.Optional != nil && *v.ConfigMap.Optional
	}
	return false
}

// volumeSync returns what writes v's content into dir (nil for an
// emptyDir, which stays as created).
func volumeSync(cs kubernetes.Interface, ns string, v corev1.Volume, dir string) func(context.Context) error {
	switch {
	case v.Secret != nil:
		return func(ctx context.Context) error {
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional {
				return nil
			}
			if err != nil {
				return err
			}
			return writeAtomic(dir, project(s.Data, v.Secret.Items))
		}
	case v.ConfigMap != nil:
		return func(ctx context.Context) error {
			m, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				return nil
			}
			if err != nil {
				return err
			}
			data := map[string][]byte{}
			for k, s := range m.Data {
				data[k] = []byte(s)
			}
			for k, b := range m.BinaryData {
				data[k] = b
			}
			return writeAtomic(dir, project(data, v.ConfigMap.Items))
		}
	}
	return nil
}

// project applies a volume's items (key → path), or keeps every key.
func project(data map[string][]byte, items []corev1.KeyToPath) map[string][]byte {
	if len(items) == 0 {
		return data
	}
	out := map[string][]byte{}
	for _, it := range items {
		if b, ok := data[it.Key]; ok {
			out[it.Path] = b
		}
	}
	return out
}

// writeAtomic writes files as a kubelet writes a volume: into a new
// timestamped directory, then the `..data` symlink swapped to it, each
// file a symlink through `..data`. Unchanged content is left alone.
func writeAtomic(dir string, files map[string][]byte) error {
	cur := filepath.Join(dir, "..data")
	if same(cur, files) {
		return nil
	}
	next, err := os.MkdirTemp(dir, "..ts-")
	if err != nil {
		return err
	}
	for name, b := range files {
		path := filepath.Join(next, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(cur)
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(next), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, cur); err != nil {
		return err
	}
	for name := range files {
		top := strings.SplitN(name, "/", 2)[0]
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
				return err
			}
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

func same(cur string, files map[string][]byte) bool {
	entries, err := os.ReadDir(cur)
	if err != nil {
		return false
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			n++
		}
	}
	if n != len(files) {
		return false
	}
	for name, b := range files {
		have, err := os.ReadFile(filepath.Join(cur, name))
		if err != nil || !bytes.Equal(have, b) {
			return false
		}
	}
	return true
}

func envFrom(ctx context.Context, cs kubernetes.Interface, ns string, pod map[string]string, src *corev1.EnvVarSource) (string, error) {
	switch {
	case src.FieldRef != nil:
		v, ok := pod[src.FieldRef.FieldPath]
		if !ok {
			return "", fmt.Errorf("fieldRef %s is not simulated", src.FieldRef.FieldPath)
		}
		return v, nil
	case src.SecretKeyRef != nil:
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, src.SecretKeyRef.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return string(s.Data[src.SecretKeyRef.Key]), nil
	case src.ConfigMapKeyRef != nil:
		m, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, src.ConfigMapKeyRef.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return m.Data[src.ConfigMapKeyRef.Key], nil
	}
	return "", fmt.Errorf("env source %+v is not simulated", src)
}

// expand replaces $(NAME) by NAME's value among env, as the kubelet does
// in args and env values; $$ escapes.
func expand(s string, env []string) string {
	if !strings.Contains(s, "$(") {
		return s
	}
	vals := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := vals[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writeKubeconfig writes a kubeconfig that reaches the API server as
// ServiceAccount ns/sa, with a token from the TokenRequest API.
func writeKubeconfig(ctx context.Context, cs kubernetes.Interface, admin *rest.Config, ns, sa, path string) error {
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("a token for ServiceAccount %s/%s: %w", ns, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "sa", Namespace: ns}
	cfg.CurrentContext = "sa"
	return clientcmd.WriteToFile(*cfg, path)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
