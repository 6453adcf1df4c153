package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"oras.land/oras-go/v2"

	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// served is `ratify serve` running as a process.
type served struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// serveBinary starts the ratify binary's serve command with the resources
// file -c resources over plain HTTP on a free loopback port and waits until
// it is ready.
func serveBinary(t *testing.T, bin, home, resources string, args ...string) *served {
	t.Helper()
	return serveProcess(t, bin, home, nil, append([]string{"-c", resources}, args...)...)
}

// serveProcess starts `ratify serve --http` with args (where its
// configuration comes from, and any other flag) and env added to its
// environment, on a free loopback port, and waits until it is ready.
func serveProcess(t *testing.T, bin, home string, env []string, args ...string) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--http", "--addr", addr, "--metrics-addr", "-"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
	cmd.Env = append(cmd.Env, env...)
	s := &served{url: "http://" + addr, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("ratify serve exited: %v\n%s", err, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ratify serve not ready: %v\n%s", err, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// itemValue is what the tests read of an item.
type itemValue struct {
	Key   string `json:"key"`
	Error string `json:"error"`
	Value struct {
		IsSuccess       bool `json:"isSuccess"`
		VerifierReports []struct {
			Verifier string `json:"verifier"`
			Message  string `json:"message"`
		} `json:"verifierReports"`
	} `json:"value"`
}

func (it itemValue) String() string {
	b, _ := json.Marshal(it)
	return string(b)
}

// verify asks the provider about one key, as Gatekeeper does.
func (s *served) verify(t *testing.T, key string) itemValue {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": []string{key}}})
	resp, err := http.Post(s.url+"/ratify/gatekeeper/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Response struct {
			Items []itemValue `json:"items"`
		} `json:"response"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil || len(r.Response.Items) != 1 {
		t.Fatalf("status %d, response %s (%v)", resp.StatusCode, b, err)
	}
	return r.Response.Items[0]
}

// eventually polls the provider until want holds for key or limit passes.
func (s *served) eventually(t *testing.T, key string, limit time.Duration, want func(itemValue) bool) (itemValue, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		it := s.verify(t, key)
		if want(it) || time.Since(start) > limit {
			return it, time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func allowed(it itemValue) bool { return it.Error == "" && it.Value.IsSuccess }
func denied(it itemValue) bool  { return !allowed(it) }

// cosignCLI is the real cosign CLI signing in a TLS registry, with its
// key pairs in home.
type cosignCLI struct {
	t         *testing.T
	bin, home string
	env       []string
}

func newCosignCLI(t *testing.T, reg *regtest.Registry, home string) *cosignCLI {
	t.Helper()
	return &cosignCLI{t: t, bin: tools.Path(t, "cosign"), home: home,
		env: []string{"SSL_CERT_FILE=" + reg.TLS.CAFile, "COSIGN_PASSWORD=", "TUF_ROOT=" + filepath.Join(home, ".sigstore")}}
}

// generate makes the key pair <key>.key, <key>.pub.
func (c *cosignCLI) generate(key string) {
	c.t.Helper()
	sh(c.t, c.home, c.env, c.bin, "generate-key-pair", "--output-key-prefix", key)
}

// sign signs ref with <key>.key, without a transparency log.
func (c *cosignCLI) sign(key, ref string) {
	c.t.Helper()
	sh(c.t, c.home, c.env, c.bin, "sign", "--key", key+".key", "--tlog-upload=false", "--yes", ref)
}

// publicKey is <key>.pub.
func (c *cosignCLI) publicKey(key string) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.home, key+".pub"))
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// tlsStoreDoc is an oras Store for a TLS registry whose CA is caFile, with
// cosign signatures and extra parameters (YAML flow entries).
func tlsStoreDoc(caFile, extra string) string {
	params := fmt.Sprintf("cosignEnabled: true, caFile: %q", caFile)
	if extra != "" {
		params += ", " + extra
	}
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: store-oras}
spec:
  name: oras
  parameters: {` + params + `}
`
}

// keyDoc is an inline KeyManagementProvider holding one public key.
func keyDoc(name, pem string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: %s}
spec: {type: inline, parameters: {contentType: key, value: %q}}
`, name, pem)
}

// cosignVerifierDoc is a cosign Verifier with trust policies (a YAML list).
func cosignVerifierDoc(trustPolicies string) string {
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies:
` + trustPolicies
}

// TestServeTrustHoles runs the built binary's provider against a real
// distribution registry (no referrers API: the tag schema and cosign's
// .sig tag) with signatures made by the real cosign CLI, as an attacker or
// a tenant would try it:
//
//   - the verdict for team-a/app@D must not be reused for team-b/app@D, the
//     same digest in another repository that carries no signature;
//   - a `[namespace]` prefix written into an image string must not pick
//     another namespace's policy;
//   - an image signed after its first denial is admitted once the referrer
//     TTL has passed, and one whose signature is deleted is denied again:
//     no cached result, negative or positive, outlives the referrer TTL;
//   - /readyz says when no client CA is configured;
//   - SIGTERM shuts the provider down cleanly.
func TestServeTrustHoles(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{TLS: true})
	ratify := buildRatify(t)
	home := t.TempDir()
	cosign := newCosignCLI(t, reg, home)
	cosign.generate("cosign")

	// One image in team-a, signed; the same manifest copied to team-b, unsigned.
	teamA, teamB := reg.Repo(t, "team-a/app"), reg.Repo(t, "team-b/app")
	d := regtest.PushImage(t, teamA, "v1")
	if _, err := oras.Copy(context.Background(), teamA, "v1", teamB, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	signedA := reg.Host + "/team-a/app@" + d.Digest.String()
	sameInB := reg.Host + "/team-b/app@" + d.Digest.String()
	cosign.sign("cosign", signedA)
	// An image in team-c, signed only later.
	teamC := reg.Repo(t, "team-c/app")
	late := reg.Host + "/team-c/app@" + regtest.PushImage(t, teamC, "v1").Digest.String()

	const ttl = 2 * time.Second
	resources := writeFile(t, filepath.Join(home, "resources.yaml"), strings.Join([]string{
		tlsStoreDoc(reg.TLS.CAFile, "referrersCacheTTL: "+ttl.String()),
		keyDoc("cosign-key", cosign.publicKey("cosign")),
		cosignVerifierDoc(`      - {name: default, scopes: ["*"], keys: [{provider: cosign-key}]}`),
	}, "---\n"))
	// The decision cache is left at its default: what is checked is that no
	// cache outlives the Store's referrer TTL.
	srv := serveBinary(t, ratify, home, resources)

	t.Run("verdict is not reused across repositories", func(t *testing.T) {
		if it := srv.verify(t, signedA); !allowed(it) {
			t.Fatalf("signed image denied: %s\n%s", it, srv.logs)
		}
		it := srv.verify(t, sameInB)
		if allowed(it) {
			t.Fatalf("%s has no signature, and was admitted on %s's verdict: %s", sameInB, signedA, it)
		}
		if !strings.Contains(it.String(), "no signatures") {
			t.Errorf("the denial should say there is no signature: %s", it)
		}
	})

	t.Run("namespace prefix in an image string", func(t *testing.T) {
		key := "[kube-system]" + signedA
		it := srv.verify(t, key)
		if allowed(it) || !strings.Contains(it.Error, "cannot start with '['") {
			t.Fatalf("a [namespace] prefix without --multi-tenancy: %s", it)
		}
	})

	t.Run("signed after its first denial, then signature deleted", func(t *testing.T) {
		if it := srv.verify(t, late); allowed(it) {
			t.Fatalf("unsigned image admitted: %s", it)
		}
		cosign.sign("cosign", late)
		// Allow for one TTL of the referrer list and one of anything derived
		// from it, plus the time to ask.
		limit := 2*ttl + 3*time.Second
		it, took := srv.eventually(t, late, limit, allowed)
		if !allowed(it) {
			t.Fatalf("signed %s ago, still denied: %s", took, it)
		}
		t.Logf("admitted %s after signing", took.Round(100*time.Millisecond))

		sigTag := "sha256-" + strings.TrimPrefix(late[strings.LastIndex(late, "@")+1:], "sha256:") + ".sig"
		sig, err := teamC.Resolve(context.Background(), sigTag)
		if err != nil {
			t.Fatal(err)
		}
		if err := teamC.Delete(context.Background(), sig); err != nil {
			t.Fatal(err)
		}
		it, took = srv.eventually(t, late, limit, denied)
		if allowed(it) {
			t.Fatalf("signature deleted %s ago, still admitted: %s", took, it)
		}
		t.Logf("denied %s after the signature was deleted", took.Round(100*time.Millisecond))
	})

	t.Run("readyz warns without a client CA", func(t *testing.T) {
		resp, err := http.Get(srv.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "warning") {
			t.Errorf("/readyz: %d %q", resp.StatusCode, b)
		}
	})

	t.Run("SIGTERM shuts down cleanly", func(t *testing.T) {
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-srv.done:
			srv.done <- err // for the cleanup
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("still running 10s after SIGTERM\n%s", srv.logs)
		}
	})
}

// TestServePlainHTTPBindsLoopback: `--http` without `--addr` must not
// listen on every interface: a plain-HTTP provider is for local use.
func TestServePlainHTTPBindsLoopback(t *testing.T) {
	ratify := buildRatify(t)
	home := t.TempDir()
	resources := filepath.Join(home, "resources.yaml")
	if err := os.WriteFile(resources, []byte("# no resources: the default store\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ratify, "serve", "-c", resources, "--http", "--metrics-addr", "-")
	cmd.Env = append(os.Environ(), "HOME="+home)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	// Either it listens on 127.0.0.1:6001, or that port is taken and it
	// says so: in both cases the address is loopback's.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := logs.String()
		if strings.Contains(out, `"msg":"provider listening"`) || strings.Contains(out, "address already in use") {
			if !strings.Contains(out, "127.0.0.1:6001") {
				t.Fatalf("--http without --addr is not on loopback:\n%s", out)
			}
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("exited: %v\n%s", err, out)
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no listening line in 20s:\n%s", logs)
}

// exitCode runs cmd and returns its exit status and combined output; a
// command that cannot start at all ends the test.
func exitCode(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// runRatify runs the ratify binary with HOME (and docker's config) in home.
func runRatify(t *testing.T, bin, home string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
	return exitCode(t, cmd)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStaticCredentialsStayWithTheirRegistry: a Store's static credentials
// are sent to the registry they were configured for (a real distribution
// registry with htpasswd), and to no other: a pod that names an attacker's
// registry collects nothing. A static store that does not say which
// registries its credentials are for is refused.
func TestStaticCredentialsStayWithTheirRegistry(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{Username: "ratify", Password: "s3cret"})
	regtest.PushImage(t, regtest.Repo(t, reg.Host, "private/app", "ratify", "s3cret"), "v1")
	var mu sync.Mutex
	var stolen []string
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			stolen = append(stolen, a)
			mu.Unlock()
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer trap.Close()
	trapHost := strings.TrimPrefix(trap.URL, "http://")

	ratify := buildRatify(t)
	home := t.TempDir()
	store := func(extra string) string {
		return writeFile(t, filepath.Join(home, "store.yaml"), `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: store-oras}
spec:
  name: oras
  parameters:
    useHttp: true
    authProvider: {name: static, username: ratify, password: s3cret`+extra+`}
`)
	}
	bound := store(", hosts: [" + reg.Host + "]")
	if code, out := runRatify(t, ratify, home, "discover", "-c", bound, "-s", reg.Host+"/private/app:v1"); code != 0 {
		t.Fatalf("the configured registry: exit %d\n%s", code, out)
	}
	code, out := runRatify(t, ratify, home, "discover", "-c", bound, "-s", trapHost+"/private/app:v1")
	if code == 0 {
		t.Fatalf("the trap registry answered 401 and discover succeeded:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stolen) > 0 {
		t.Fatalf("credentials sent to another registry: %q", stolen)
	}

	code, out = runRatify(t, ratify, home, "discover", "-c", store(""), "-s", reg.Host+"/private/app:v1")
	if code != 2 || !strings.Contains(out, "authProvider.hosts") {
		t.Fatalf("a static store without hosts: exit %d, want 2 and a message naming authProvider.hosts\n%s", code, out)
	}
}

// TestScopeSpellingCannotPickAnotherTrustPolicy: the registry's own cosign
// trust policy needs key A; the catch-all `*` trusts key B. An image signed
// only with key B, named with another spelling of the registry host
// (upper case), must still meet the registry's trust policy and be denied,
// not fall through to `*`. Signatures by the real cosign CLI, verified by
// the built binary against a distribution registry.
func TestScopeSpellingCannotPickAnotherTrustPolicy(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{TLS: true})
	ratify := buildRatify(t)
	home := t.TempDir()
	cosign := newCosignCLI(t, reg, home)
	cosign.generate("a")
	cosign.generate("b")
	repo := reg.Repo(t, "team-a/app")
	d := regtest.PushImage(t, repo, "v1")
	cosign.sign("b", reg.Host+"/team-a/app@"+d.Digest.String())
	// A control: an image signed with key A, which the registry's policy trusts.
	good := regtest.PushImage(t, repo, "v2")
	cosign.sign("a", reg.Host+"/team-a/app@"+good.Digest.String())
	port := reg.Host[strings.LastIndex(reg.Host, ":"):]
	cfg := writeFile(t, filepath.Join(home, "resources.yaml"), strings.Join([]string{
		tlsStoreDoc(reg.TLS.CAFile, ""),
		keyDoc("key-a", cosign.publicKey("a")),
		keyDoc("key-b", cosign.publicKey("b")),
		cosignVerifierDoc(`      - {name: our-registry, scopes: ["localhost` + port + `/team-a/*"], keys: [{provider: key-a}]}
      - {name: everything-else, scopes: ["*"], keys: [{provider: key-b}]}
`),
	}, "---\n"))
	// The registry's certificate names localhost and 127.0.0.1.
	for _, spelling := range []string{"localhost" + port, "LOCALHOST" + port, "LocalHost" + port} {
		image := spelling + "/team-a/app@" + d.Digest.String()
		code, out := runRatify(t, ratify, home, "verify", "-c", cfg, "-s", image)
		if code == 0 {
			t.Errorf("%s, signed only with the catch-all's key, was admitted:\n%s", image, out)
		}
		image = spelling + "/team-a/app@" + good.Digest.String()
		if code, out := runRatify(t, ratify, home, "verify", "-c", cfg, "-s", image); code != 0 {
			t.Errorf("%s, signed with the registry's key, was denied:\n%s", image, out)
		}
	}
}
