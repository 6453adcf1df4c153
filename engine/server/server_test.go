package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"

	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// fixture is a registry behind a fault-injecting proxy, a cosign-signed and
// an unsigned image, and a provider configured to trust the key, reached
// through the proxy.
type fixture struct {
	proxy            *regtest.Proxy
	signed, unsigned string // references by tag, through the proxy
	signedDigest     string
	srv              *server.Server
	http             *httptest.Server
	// sign pushes another image signed with the trusted key and returns
	// its reference by tag through the proxy.
	sign func(tag string) string
}

func newFixture(t testing.TB, opts server.Options, storeCacheTTL string) *fixture {
	t.Helper()
	reg := regtest.StartOCI11(t, 0)
	proxy := regtest.StartProxy(t, reg.Host)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	key := sign.NewCosignKey(t)
	signed := regtest.PushImage(t, repo, "signed")
	sign.Cosign(t, key, repo, proxy.Host+"/app", signed, "")
	regtest.PushImage(t, repo, "unsigned")

	yaml := sample.Resources(sample.Trust{KeyPEM: key.PublicPEM(), StoreParameters: "referrersCacheTTL: " + storeCacheTTL})
	res, err := config.Load(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Workers == 0 {
		opts.Workers = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := server.New(opts)
	eng, err := engine.New(context.Background(), res, srv.EngineOptions(engine.Options{
		// Builtin results are not reused across requests here, so every
		// request that misses the decision cache goes to the registry.
		BuiltinCacheEntries: -1,
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetEngine(eng)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{proxy: proxy, srv: srv, http: hs,
		signed: proxy.Host + "/app:signed", unsigned: proxy.Host + "/app:unsigned", signedDigest: signed.Digest.String(),
		sign: func(tag string) string {
			d := regtest.PushImage(t, repo, tag)
			sign.Cosign(t, key, repo, proxy.Host+"/app", d, "")
			return proxy.Host + "/app:" + tag
		}}
}

func request(keys ...string) []byte {
	b, _ := json.Marshal(externaldata.ProviderRequest{APIVersion: "externaldata.gatekeeper.sh/v1beta1", Kind: "ProviderRequest",
		Request: externaldata.Request{Keys: keys}})
	return b
}

type item struct {
	Key   string          `json:"key"`
	Value server.Value    `json:"-"`
	Raw   json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

type response struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		Idempotent  bool   `json:"idempotent"`
		Items       []item `json:"items"`
		SystemError string `json:"systemError"`
	} `json:"response"`
}

func (f *fixture) post(t *testing.T, path string, body []byte) (int, response) {
	t.Helper()
	resp, err := http.Post(f.http.URL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("response is not a ProviderResponse: %v", err)
	}
	return resp.StatusCode, r
}

func (f *fixture) verify(t *testing.T, keys ...string) map[string]item {
	t.Helper()
	status, r := f.post(t, server.VerifyPath, request(keys...))
	if status != http.StatusOK || r.Kind != "ProviderResponse" || !r.Response.Idempotent {
		t.Fatalf("status %d, response %+v", status, r)
	}
	items := map[string]item{}
	for _, it := range r.Response.Items {
		_ = json.Unmarshal(it.Raw, &it.Value)
		if _, dup := items[it.Key]; dup {
			t.Fatalf("key %s answered twice", it.Key)
		}
		items[it.Key] = it
	}
	return items
}

func TestVerify(t *testing.T) {
	f := newFixture(t, server.Options{MultiTenancy: true}, "10s")
	bad := "Not A Reference"
	items := f.verify(t, f.signed, f.unsigned, f.signed, "[team-a]"+f.signed, bad)
	if len(items) != 4 {
		t.Fatalf("want 4 distinct keys answered, got %d", len(items))
	}
	if it := items[f.signed]; it.Error != "" || !it.Value.IsSuccess || it.Value.TraceID == "" || it.Value.Version == "" {
		t.Errorf("signed: %+v", it)
	}
	if it := items["[team-a]"+f.signed]; it.Error != "" || !it.Value.IsSuccess {
		t.Errorf("namespaced key: %+v", it)
	}
	it := items[f.unsigned]
	if it.Error != "" || it.Value.IsSuccess {
		t.Fatalf("unsigned: %+v", it)
	}
	last := it.Value.VerifierReports[len(it.Value.VerifierReports)-1]
	if last.Verifier != "policy" || !strings.Contains(last.Message, "no signatures") {
		t.Errorf("unsigned: the reason should travel as the policy report: %+v", it.Value.VerifierReports)
	}
	if it := items[bad]; !strings.Contains(it.Error, "invalid reference") {
		t.Errorf("bad reference: %+v", it)
	}
}

// TestNamespacePrefixNeedsMultiTenancy: the default constraint template
// sends image strings as pod authors wrote them, so a `[namespace]` prefix
// in a key is the pod author's, not Gatekeeper's: it must not select
// another namespace's policy. Without --multi-tenancy it is denied.
func TestNamespacePrefixNeedsMultiTenancy(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	key := "[kube-system]" + f.signed
	it := f.verify(t, key)[key]
	if it.Value.IsSuccess {
		t.Fatalf("a [namespace] prefix was honoured without multi-tenancy: %+v", it)
	}
	if !strings.Contains(it.Error, "cannot start with '['") {
		t.Errorf("the denial should say why: %+v", it)
	}
	// The same image without the prefix is admitted.
	if it := f.verify(t, f.signed)[f.signed]; !it.Value.IsSuccess {
		t.Fatalf("signed image denied: %+v", it)
	}
}

func TestMutate(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	status, r := f.post(t, server.MutatePath, request(f.signed, f.proxy.Host+"/app@"+f.signedDigest, f.proxy.Host+"/app:missing"))
	if status != http.StatusOK || !r.Response.Idempotent || len(r.Response.Items) != 3 {
		t.Fatalf("%d %+v", status, r)
	}
	want := f.proxy.Host + "/app@" + f.signedDigest
	for _, it := range r.Response.Items[:2] {
		var v string
		_ = json.Unmarshal(it.Raw, &v)
		if v != want {
			t.Errorf("%s mutated to %q, want %q", it.Key, v, want)
		}
	}
	if r.Response.Items[2].Error == "" {
		t.Errorf("a missing tag must be an item error: %+v", r.Response.Items[2])
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, server.Options{MaxKeys: 3}, "10s")
	for _, c := range []struct {
		name   string
		method string
		body   []byte
		status int
		reason string
	}{
		{"GET", http.MethodGet, nil, http.StatusMethodNotAllowed, "use POST"},
		{"oversized", http.MethodPost, append(request("x"), bytes.Repeat([]byte(" "), 2<<20)...), http.StatusRequestEntityTooLarge, "over"},
		{"malformed", http.MethodPost, []byte(`{"apiVersion":`), http.StatusBadRequest, "malformed"},
		{"not json", http.MethodPost, []byte(`hello`), http.StatusBadRequest, "malformed"},
		{"wrong apiVersion", http.MethodPost, []byte(`{"apiVersion":"v1","kind":"ProviderRequest","request":{"keys":["a"]}}`), http.StatusBadRequest, "apiVersion"},
		{"wrong kind", http.MethodPost, []byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"Pod","request":{"keys":["a"]}}`), http.StatusBadRequest, "kind"},
		{"too many keys", http.MethodPost, request("a", "b", "c", "d"), http.StatusUnprocessableEntity, "at most 3"},
	} {
		req, _ := http.NewRequest(c.method, f.http.URL+server.VerifyPath, bytes.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.reason) {
			t.Errorf("%s: %d %s; want %d mentioning %q", c.name, resp.StatusCode, body, c.status, c.reason)
		}
	}
	// The server still answers after all that.
	if it := f.verify(t, f.signed)[f.signed]; !it.Value.IsSuccess {
		t.Fatalf("after bad requests: %+v", it)
	}
}

// Registry faults give a timely item error, never a pass, and are not
// cached: once the registry recovers, the same key verifies.
func TestFaultsAreNotCached(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault regtest.Fault
	}{
		{"503", regtest.Fault{Status: http.StatusServiceUnavailable}},
		{"429 with Retry-After", regtest.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}}},
		{"connection reset", regtest.Fault{Reset: true}},
		{"slower than the deadline", regtest.Fault{Delay: 5 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The store caches nothing, so every request reaches the proxy.
			f := newFixture(t, server.Options{VerifyTimeout: 1500 * time.Millisecond}, "0s")
			f.proxy.Add(c.fault)
			it := f.verify(t, f.signed)[f.signed]
			if it.Error == "" || it.Value.IsSuccess {
				t.Fatalf("registry fault %s: want an item error, got %+v", c.name, it)
			}
			f.proxy.Clear()
			if it := f.verify(t, f.signed)[f.signed]; it.Error != "" || !it.Value.IsSuccess {
				t.Fatalf("after the registry recovered: %+v", it)
			}
		})
	}
}

func TestDecisionCache(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	if it := f.verify(t, f.signed)[f.signed]; !it.Value.IsSuccess {
		t.Fatal(it)
	}
	before := f.proxy.Requests()
	// The tag resolution and the decision are both cached: no registry request.
	if it := f.verify(t, f.signed)[f.signed]; !it.Value.IsSuccess {
		t.Fatal(it)
	}
	if n := f.proxy.Requests() - before; n != 0 {
		t.Errorf("a cached decision made %d registry requests", n)
	}
	rec := httptest.NewRecorder()
	f.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, m := range []string{`ratify_cache_count{cache_hit="true"} 1`, `ratify_cache_count{cache_hit="false"} 1`,
		`ratify_requests_total{endpoint="verify",outcome="ok"} 2`, "ratify_registry_request_count", "ratify_verifier_duration"} {
		if !strings.Contains(rec.Body.String(), m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// The certificate is reloaded when the files change.
func TestCertificateReload(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	dir := t.TempDir()
	first := regtest.NewTLSFiles(t, dir)
	serverCert := serveCertDir(t, f, dir)
	was := serverCert()
	_ = first
	// Rotate: new files in place, with a later modification time.
	second := regtest.NewTLSFiles(t, t.TempDir())
	for _, p := range [][2]string{{second.CertFile, "tls.crt"}, {second.KeyFile, "tls.key"}} {
		b, _ := os.ReadFile(p[0])
		if err := os.WriteFile(filepath.Join(dir, p[1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		_ = os.Chtimes(filepath.Join(dir, p[1]), later, later)
	}
	deadline := time.Now().Add(10 * time.Second)
	for bytes.Equal(serverCert(), was) {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveCertDir serves f over HTTPS with the certificate in dir until the
// test ends, and returns what reads the certificate it serves.
func serveCertDir(t *testing.T, f *fixture, dir string) func() []byte {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- f.srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-", CertDir: dir, Ready: func(a string) { addr <- a }})
	}()
	a := listening(t, addr, done)
	return func() []byte {
		conn, err := tls.Dial("tcp", a, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reading the served certificate
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
}

// listening waits for the address ListenAndServe reports, failing the test
// if the server ends or nothing is reported in time, instead of hanging.
func listening(t *testing.T, addr <-chan string, done <-chan error) string {
	t.Helper()
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("ListenAndServe ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndServe did not report an address in 30s")
	}
	return ""
}

// TestClientCAReload: the client CA (Gatekeeper's) is reloaded with the
// serving certificate, so a rotated Gatekeeper CA is trusted, and the old
// one no longer is, without a restart.
func TestClientCAReload(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	dir := t.TempDir()
	first := regtest.NewTLSFiles(t, dir)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		_ = os.Chtimes(to, later, later)
	}
	copyFile(first.CAFile, caFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- f.srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-", CertDir: dir, ClientCAFile: caFile,
			Ready: func(a string) { addr <- a }})
	}()
	a := listening(t, addr, done)
	// healthz answers whether a client with the certificate in files is served.
	healthz := func(files regtest.TLSFiles) error {
		cert, err := tls.LoadX509KeyPair(files.ClientCertFile, files.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}} //nolint:gosec // the client certificate is under test
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + a + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := healthz(first); err != nil {
		t.Fatalf("client of the configured CA refused: %v", err)
	}
	second := regtest.NewTLSFiles(t, t.TempDir())
	if healthz(second) == nil {
		t.Fatal("a client of another CA was served")
	}
	copyFile(second.CAFile, caFile)
	deadline := time.Now().Add(10 * time.Second)
	for healthz(second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rotated client CA was never trusted")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if healthz(first) == nil {
		t.Fatal("the replaced client CA is still trusted")
	}
}

// TestShutdownFinishesRequestsInFlight: when serving ends (SIGTERM in
// ratify serve), a request already being answered still gets its answer.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	// The registry is slow: the request is in flight when shutdown begins.
	f.proxy.Add(regtest.Fault{Delay: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- f.srv.ListenAndServe(ctx, server.ServeOptions{Addr: "127.0.0.1:0", MetricsAddr: "-", PlainHTTP: true,
			Ready: func(a string) { addr <- a }})
	}()
	url := "http://" + listening(t, addr, done) + server.VerifyPath
	type answer struct {
		status int
		body   []byte
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(request(f.signed)))
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, b, err}
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	a := <-got
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(string(a.body), `"isSuccess":true`) {
		t.Fatalf("request in flight at shutdown: %d %s %v", a.status, a.body, a.err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("ListenAndServe: %v", err)
	}
	if _, err := http.Post(url, "application/json", bytes.NewReader(request(f.signed))); err == nil {
		t.Error("still accepting requests after shutdown")
	}
}

// FuzzRequest: whatever the body, the server answers with a
// ProviderResponse and a status, and never panics.
func FuzzRequest(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["a:b","[ns]c@sha256:00"]}}`))
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":[]}}`))
	f.Add([]byte(`{"request":{"keys":[1,2]}}`))
	f.Add([]byte(`[`))
	srv := server.New(server.Options{Workers: 2, MaxKeys: 4, VerifyTimeout: 200 * time.Millisecond})
	res, _ := config.Load(strings.NewReader(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: s}
spec: {name: oras, parameters: {useHttp: true}}`))
	eng, err := engine.New(context.Background(), res, engine.Options{})
	if err != nil {
		f.Fatal(err)
	}
	srv.SetEngine(eng)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, server.VerifyPath, bytes.NewReader(body)))
		var r response
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Kind != "ProviderResponse" {
			t.Fatalf("status %d, body %q is not a ProviderResponse", rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusOK {
			for _, it := range r.Response.Items {
				_ = json.Unmarshal(it.Raw, &it.Value)
				if it.Error == "" && it.Value.IsSuccess {
					t.Fatalf("key %q admitted with no registry behind it", it.Key)
				}
			}
		}
	})
}

// panicky is a registry transport that panics on one repository, standing
// in for a bug deep in an evaluation.
type panicky struct{ next http.RoundTripper }

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/boom/") {
		panic("bug while talking to the registry")
	}
	return p.next.RoundTrip(r)
}

// A panic while answering one key is that key's error; the other keys and
// later requests are answered.
func TestPanicIsAnItemError(t *testing.T) {
	f := newFixture(t, server.Options{}, "10s")
	srv := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	opts := srv.EngineOptions(engine.Options{})
	opts.StoreOptions.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return panicky{rt} }
	res, err := config.Load(strings.NewReader(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: s}
spec: {name: oras, parameters: {useHttp: true}}`))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), res, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetEngine(eng)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	g := &fixture{http: hs}
	boom := f.proxy.Host + "/boom/app:v1"
	items := g.verify(t, boom, f.unsigned)
	if it := items[boom]; !strings.Contains(it.Error, "internal error") {
		t.Fatalf("panicking key: %+v", it)
	}
	if it := items[f.unsigned]; it.Error != "" || it.Value.IsSuccess {
		t.Fatalf("the other key must still be answered (and denied: no verifier): %+v", it)
	}
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "ratify_system_error_count 1") {
		t.Error("the panic was not counted as a system error")
	}
}
