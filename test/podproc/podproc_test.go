package podproc_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/podproc"
)

const manifest = `apiVersion: v1
kind: ServiceAccount
metadata: {name: app-sa, namespace: default}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: default}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      serviceAccountName: app-sa
      containers:
        - name: app
          image: app:1
          command: ["/app"]
          args: ["-c", "while true; do cat /etc/app/tls/tls.crt; echo; echo ns=$MY_NS name=$(MY_NAME) dir=$DIR; sleep 0.1; done"]
          env:
            - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
            - {name: MY_NAME, value: app-x}
            - {name: DIR, value: /etc/app/tls}
          volumeMounts:
            - {name: tls, mountPath: /etc/app/tls, readOnly: true}
      volumes:
        - name: tls
          secret: {secretName: app-tls}
`

// A Deployment's container runs as a process: its env from the spec and
// the pod, its args with $(VAR) expanded and mount paths rewritten, its
// Secret volume kept in sync as a kubelet does (an update reaches the
// files), and KUBECONFIG reaching the API server as its ServiceAccount.
func TestRun(t *testing.T) {
	c := cluster.Start(t)
	c.Apply(t, manifest)
	go func() {
		// The Secret appears after the container was asked for: it starts
		// once the volume can be mounted.
		time.Sleep(time.Second)
		if _, err := c.TryKubectl("-n", "default", "create", "secret", "generic", "app-tls", "--from-literal=tls.crt=first"); err != nil {
			t.Error(err)
		}
	}()
	d, err := podproc.Deployment([]byte(manifest), "app")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	p := podproc.Run(t, d, podproc.Options{Config: c.Config, Binary: sh})
	dir := filepath.Join(p.Root, "etc", "app", "tls")
	wait(t, p, "first\nns=default name=app-x dir="+dir)

	c.Apply(t, c.Kubectl(t, "-n", "default", "create", "secret", "generic", "app-tls", "--from-literal=tls.crt=second", "--dry-run=client", "-o", "yaml"))
	wait(t, p, "second\n")

	who, err := c.TryKubectl("--kubeconfig", p.Kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if who != "system:serviceaccount:default:app-sa" {
		t.Errorf("KUBECONFIG is %q, want the ServiceAccount", who)
	}
}
func wait(t *testing.T, p *podproc.Process, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.Logs(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, p.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
