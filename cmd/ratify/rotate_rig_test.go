package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// rotationRig is `ratify serve` run as the chart's Deployment runs it, with
// certificate rotation, against a real control plane: its cert dir is a
// directory the test updates as the kubelet updates a Secret volume.
type rotationRig struct {
	c                      *cluster.Cluster
	certDir                string
	addr, health, metrics  string
	gatekeeper             regtest.TLSFiles // Gatekeeper's CA and client certificate
	cmd                    *exec.Cmd
	logs                   *syncBuffer
	done                   chan error
	mounts                 int
	namespace, secret, dns string
}

// loopbackAddr is a loopback address nothing listens on now.
func (r *rotationRig) loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the binary with the chart's arguments and environment, the
// paths under a temporary directory and the ports on loopback.
func (r *rotationRig) start(t *testing.T, bin, kubeconfig string) {
	t.Helper()
	home := t.TempDir()
	r.certDir = filepath.Join(home, "tls")
	if err := os.MkdirAll(filepath.Join(r.certDir, "client-ca"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.gatekeeper = regtest.NewTLSFiles(t, t.TempDir())
	writeFile(t, filepath.Join(r.certDir, "client-ca", "ca.crt"), readFile(t, r.gatekeeper.CAFile))
	r.addr, r.health, r.metrics = r.loopbackAddr(t), r.loopbackAddr(t), r.loopbackAddr(t)
	r.cmd = exec.Command(bin, "serve", "--addr="+r.addr, "--cert-dir="+r.certDir, "--ca-cert-file="+filepath.Join(r.certDir, "client-ca", "ca.crt"),
		"--health-addr="+r.health, "--metrics-addr="+r.metrics, "--cache-ttl=10s", "--verify-timeout=4900ms", "--mutate-timeout=1950ms")
	r.cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+kubeconfig,
		"RATIFY_CERT_ROTATION=1", "RATIFY_NAME=ratify", "RATIFY_NAMESPACE="+r.namespace, "RATIFY_LOG_LEVEL=info")
	r.logs, r.done = &syncBuffer{}, make(chan error, 1)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("ratify serve's logs:\n%s", r.logs)
		}
	})
}

// running fails the test if ratify has exited.
func (r *rotationRig) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("ratify serve exited: %v", err)
	default:
	}
}

// get is a plain HTTP GET of the health port: status and body, or the error.
func (r *rotationRig) get(path string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + r.health + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// secretData is the Secret's data, decoded; nil while it does not exist.
func (r *rotationRig) secretData(t *testing.T) map[string][]byte {
	t.Helper()
	out, err := r.c.TryKubectl("get", "secret", r.secret, "-n", r.namespace, "-o", "json")
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") {
			return nil
		}
		t.Fatal(err)
	}
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	return s.Data
}

// caBundle is the Provider's spec.caBundle, decoded ("" while unset).
func (r *rotationRig) caBundle(t *testing.T, provider string) string {
	t.Helper()
	out := r.c.Kubectl(t, "get", "provider", provider, "-o", "jsonpath={.spec.caBundle}")
	b, err := base64.StdEncoding.DecodeString(out)
	if err != nil {
		t.Fatalf("Provider %s caBundle %q: %v", provider, out, err)
	}
	return string(b)
}

// mount writes data into the cert dir as the kubelet updates a Secret
// volume: a new timestamped directory, the ..data symlink swapped to it
// (rename of ..data_tmp), a symlink per key to ..data/<key>, the old
// directory removed.
func (r *rotationRig) mount(t *testing.T, data map[string][]byte) {
	t.Helper()
	r.mounts++
	ts := fmt.Sprintf("..%s.%d", time.Now().Format("2006_01_02_15_04_05"), r.mounts)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(r.certDir, ts), 0o755))
	for k, v := range data {
		must(os.WriteFile(filepath.Join(r.certDir, ts, k), v, 0o644))
	}
	old, _ := os.Readlink(filepath.Join(r.certDir, "..data"))
	must(os.Symlink(ts, filepath.Join(r.certDir, "..data_tmp")))
	must(os.Rename(filepath.Join(r.certDir, "..data_tmp"), filepath.Join(r.certDir, "..data")))
	for k := range data {
		if _, err := os.Lstat(filepath.Join(r.certDir, k)); os.IsNotExist(err) {
			must(os.Symlink(filepath.Join("..data", k), filepath.Join(r.certDir, k)))
		}
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(r.certDir, old)))
	}
}

// client is Gatekeeper's: it trusts caPEM (the Providers' caBundle), asks
// for the Service's name, and presents its client certificate unless
// anonymous. Every request is a new connection, so a new handshake.
func (r *rotationRig) client(t *testing.T, caPEM string, anonymous bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatalf("no CA certificate in %q", caPEM)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: r.dns}
	if !anonymous {
		cert, err := tls.LoadX509KeyPair(r.gatekeeper.ClientCertFile, r.gatekeeper.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// verify posts a ProviderRequest as Gatekeeper does and returns the
// response's status and body, or the error (a refused handshake).
func (r *rotationRig) verify(hc *http.Client, key string) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": []string{key}}})
	resp, err := hc.Post("https://"+r.addr+"/ratify/gatekeeper/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// served is the certificate the provider serves now to a client trusting
// caPEM, or the handshake's error.
func (r *rotationRig) served(t *testing.T, caPEM string) (*x509.Certificate, error) {
	t.Helper()
	hc := r.client(t, caPEM, false)
	conn, err := tls.Dial("tcp", r.addr, hc.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// parseCert is the first certificate of PEM bytes.
func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("no PEM block in %q", pemBytes)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userKubeconfig writes a kubeconfig for cfg (a user of the cluster), as a
// pod's service account would have.
func userKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["ratify"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["ratify"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "ratify"}
	kc.CurrentContext = "ratify"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
