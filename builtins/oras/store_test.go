package oras_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasgo "oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

const (
	notationType = "application/vnd.cncf.notary.signature"
	sbomType     = "application/spdx+json"
)

func newStore(t *testing.T, cfgs ...oras.Config) *oras.Store {
	t.Helper()
	s, err := oras.New(context.Background(), cfgs, oras.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func remoteCfg() oras.Config {
	return oras.Config{Name: "test", Type: oras.TypeRemote, PlainHTTP: true, Auth: oras.Anonymous,
		Retry: oras.RetryPolicy{Backoff: 10 * time.Millisecond}}
}

func mustRef(t *testing.T, s string) oras.Reference {
	t.Helper()
	r, err := oras.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func artifactTypes(ds []ocispec.Descriptor) map[string]int {
	m := map[string]int{}
	for _, d := range ds {
		m[d.ArtifactType]++
	}
	return m
}

// The distribution registry has no referrers API: referrers come from the
// `sha256-<hex>` tag schema that oras-go maintains when pushing.
func TestDistributionTagSchema(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	sig := regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
	regtest.PushArtifact(t, repo, img, sbomType, []byte("{}"), map[string]string{"k": "v"})
	bare := regtest.PushImage(t, repo, "unsigned")

	s := newStore(t, remoteCfg())
	ctx := context.Background()

	byTag, err := s.Resolve(ctx, mustRef(t, reg.Host+"/team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if byTag.Digest != img.Digest || byTag.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("resolve tag: got %v, want %v", byTag, img)
	}
	subject := mustRef(t, reg.Host+"/team/app@"+img.Digest.String())
	if d, err := s.Resolve(ctx, subject); err != nil || d.Digest != img.Digest {
		t.Fatalf("resolve digest: %v %v", d, err)
	}

	all, err := s.Referrers(ctx, subject, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := artifactTypes(all); got[notationType] != 1 || got[sbomType] != 1 || len(all) != 2 {
		t.Fatalf("referrers: %v", got)
	}
	sigs, err := s.Referrers(ctx, subject, notationType)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0].Digest != sig.Digest {
		t.Fatalf("filtered referrers: %v, want only %s", sigs, sig.Digest)
	}
	manifest, err := s.Fetch(ctx, subject, sigs[0])
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil || m.Subject == nil || m.Subject.Digest != img.Digest {
		t.Fatalf("signature manifest does not point at the image: %s", manifest)
	}
	blob, err := s.Fetch(ctx, subject, m.Layers[0])
	if err != nil || string(blob) != "sig" {
		t.Fatalf("signature blob: %q %v", blob, err)
	}

	none, err := s.Referrers(ctx, mustRef(t, reg.Host+"/team/app@"+bare.Digest.String()), "")
	if err != nil || len(none) != 0 {
		t.Fatalf("image without referrers: %v %v", none, err)
	}

	for _, missing := range []string{reg.Host + "/team/app:nope", reg.Host + "/no/such/repo:v1"} {
		_, err := s.Resolve(ctx, mustRef(t, missing))
		if !errors.Is(err, oras.ErrNotFound) || oras.IsTransient(err) {
			t.Errorf("resolve %s: %v, want ErrNotFound (permanent)", missing, err)
		}
	}
}

// The in-process registry serves the OCI 1.1 referrers API two per page.
func TestReferrersAPIPagination(t *testing.T) {
	reg := regtest.StartOCI11(t, 2)
	proxy := regtest.StartProxy(t, reg.Host)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		d := regtest.PushArtifact(t, repo, img, notationType, []byte{byte(i)}, nil)
		want[d.Digest.String()] = true
	}
	regtest.PushArtifact(t, repo, img, sbomType, []byte("{}"), nil)

	var referrerCalls int
	proxy.Add(regtest.Fault{Match: func(r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/referrers/") {
			referrerCalls++
		}
		return false
	}})
	s := newStore(t, remoteCfg())
	subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
	got, err := s.Referrers(context.Background(), subject, notationType)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d referrers, want %d", len(got), len(want))
	}
	for _, d := range got {
		if !want[d.Digest.String()] || d.ArtifactType != notationType {
			t.Errorf("unexpected referrer %v", d)
		}
	}
	if referrerCalls < 3 {
		t.Errorf("5 referrers two per page took %d referrers requests, want 3 pages", referrerCalls)
	}
	all, err := s.Referrers(context.Background(), subject, "")
	if err != nil || len(all) != 6 {
		t.Fatalf("unfiltered: %d %v", len(all), err)
	}
}

func TestAuth(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{Username: "ratify", Password: "s3cret"})
	repo := regtest.Repo(t, reg.Host, "private/app", "ratify", "s3cret")
	img := regtest.PushImage(t, repo, "v1")
	ref := mustRef(t, reg.Host+"/private/app:v1")
	ctx := context.Background()

	if _, err := newStore(t, remoteCfg()).Resolve(ctx, ref); !errors.Is(err, oras.ErrUnauthorized) {
		t.Fatalf("anonymous: %v, want ErrUnauthorized", err)
	}

	dir := t.TempDir()
	cfgJSON, _ := json.Marshal(map[string]any{"auths": map[string]any{
		reg.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("ratify:s3cret"))},
	}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	cfg, err := oras.ConfigFromParameters("docker", oras.TypeRemote, json.RawMessage(`{"useHttp": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := newStore(t, cfg).Resolve(ctx, ref); err != nil || d.Digest != img.Digest {
		t.Fatalf("docker config credentials: %v %v", d, err)
	}

	wrong := remoteCfg()
	wrong.Auth = oras.StaticAuth{Username: "ratify", Password: "wrong", Hosts: []string{reg.Host}}.Credential
	if _, err := newStore(t, wrong).Resolve(ctx, ref); !errors.Is(err, oras.ErrUnauthorized) {
		t.Fatalf("wrong password: %v, want ErrUnauthorized", err)
	}
}

func TestThrottlingAndOutages(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	img := regtest.PushImage(t, regtest.Repo(t, reg.Host, "app", "", ""), "v1")
	proxy := regtest.StartProxy(t, reg.Host)
	ref := mustRef(t, proxy.Host+"/app:v1")
	ctx := context.Background()
	manifests := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }

	// 429 twice, then the registry answers: bounded retries honour Retry-After.
	proxy.Add(regtest.Fault{Match: manifests, Times: 2, Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"0"}}})
	before := proxy.Requests()
	d, err := newStore(t, remoteCfg()).Resolve(ctx, ref)
	if err != nil || d.Digest != img.Digest {
		t.Fatalf("after two 429s: %v %v", d, err)
	}
	if n := proxy.Requests() - before; n < 3 {
		t.Errorf("expected the 429s to be retried, saw %d requests", n)
	}

	cases := []struct {
		name  string
		fault regtest.Fault
		want  error
	}{
		{"429 forever", regtest.Fault{Match: manifests, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"0"}}}, oras.ErrThrottled},
		{"Retry-After too long", regtest.Fault{Match: manifests, Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3600"}}}, oras.ErrThrottled},
		{"503", regtest.Fault{Match: manifests, Status: http.StatusServiceUnavailable}, oras.ErrUnavailable},
		{"reset", regtest.Fault{Match: manifests, Reset: true}, oras.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proxy.Clear()
			proxy.Add(c.fault)
			_, err := newStore(t, remoteCfg()).Resolve(ctx, ref)
			if !errors.Is(err, c.want) || !oras.IsTransient(err) {
				t.Fatalf("got %v, want %v (transient)", err, c.want)
			}
		})
	}
	proxy.Clear()

	// A deadline shorter than the registry's answer is a transient failure too.
	proxy.Add(regtest.Fault{Match: manifests, Delay: 2 * time.Second})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := newStore(t, remoteCfg()).Resolve(short, ref); !errors.Is(err, oras.ErrUnavailable) {
		t.Fatalf("slow registry: %v, want ErrUnavailable", err)
	}
	proxy.Clear()

	// Nothing listens: unavailable.
	_, err = newStore(t, remoteCfg()).Resolve(ctx, mustRef(t, "127.0.0.1:1/app:v1"))
	if !errors.Is(err, oras.ErrUnavailable) {
		t.Fatalf("closed port: %v", err)
	}
}

// A mirror that serves other bytes under the digest is refused.
func TestDigestMismatchRefused(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	sig := regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
	proxy := regtest.StartProxy(t, reg.Host)
	proxy.Add(regtest.Fault{
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, sig.Digest.String())
		},
		Tamper: func(b []byte) []byte {
			return bytes.Replace(b, []byte(notationType), []byte("application/vnd.cncf.notary.signaturX"), 1)
		},
	})
	s := newStore(t, remoteCfg())
	_, err := s.Fetch(context.Background(), mustRef(t, proxy.Host+"/app@"+img.Digest.String()), sig)
	if !errors.Is(err, oras.ErrDigestMismatch) || oras.IsTransient(err) {
		t.Fatalf("tampered manifest: %v, want ErrDigestMismatch", err)
	}
}

func TestLimitsAndCaches(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	regtest.PushArtifact(t, repo, img, notationType, []byte("sig"), nil)
	proxy := regtest.StartProxy(t, reg.Host)
	subject := mustRef(t, proxy.Host+"/app@"+img.Digest.String())
	ctx := context.Background()

	small := remoteCfg()
	small.MaxManifestBytes = 64
	if _, err := newStore(t, small).Resolve(ctx, subject); !errors.Is(err, oras.ErrTooLarge) {
		t.Fatalf("manifest over the limit: %v", err)
	}

	s := newStore(t, remoteCfg())
	first, err := s.Referrers(ctx, subject, "")
	if err != nil || len(first) != 1 {
		t.Fatal(first, err)
	}
	n := proxy.Requests()
	if again, err := s.Referrers(ctx, subject, ""); err != nil || len(again) != 1 {
		t.Fatal(again, err)
	}
	if _, err := s.Fetch(ctx, subject, first[0]); err != nil {
		t.Fatal(err)
	}
	n2 := proxy.Requests()
	if n2 == n {
		t.Fatal("fetch made no request")
	}
	if _, err := s.Fetch(ctx, subject, first[0]); err != nil {
		t.Fatal(err)
	}
	if proxy.Requests() != n2 || n2 != n+1 {
		t.Errorf("cached referrer list and content still went to the registry: %d, %d, %d requests", n, n2, proxy.Requests())
	}

	noCache := remoteCfg()
	noCache.ReferrersTTL = -1
	s = newStore(t, noCache)
	_, _ = s.Referrers(ctx, subject, "")
	n = proxy.Requests()
	_, _ = s.Referrers(ctx, subject, "")
	if proxy.Requests() == n {
		t.Error("referrers cache disabled, yet no request was made")
	}
}

// Cosign keeps its signature at the `sha256-<hex>.sig` tag.
func TestCosignSignatureTag(t *testing.T) {
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{})
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	sigImg := regtest.PushImage(t, repo, oras.CosignSignatureTag(img.Digest))
	subject := mustRef(t, reg.Host+"/app@"+img.Digest.String())
	ctx := context.Background()

	cfg := remoteCfg()
	cfg.CosignEnabled = true
	got, err := newStore(t, cfg).Referrers(ctx, subject, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Digest != sigImg.Digest || got[0].ArtifactType != oras.CosignSignatureArtifactType {
		t.Fatalf("cosign enabled: %v", got)
	}
	if got, _ := newStore(t, cfg).Referrers(ctx, subject, notationType); len(got) != 0 {
		t.Fatalf("filtered to notation, still got %v", got)
	}
	if got, _ := newStore(t, remoteCfg()).Referrers(ctx, subject, ""); len(got) != 0 {
		t.Fatalf("cosign disabled, still got %v", got)
	}
}

// An OCI layout mapped to a registry scope answers for it offline.
func TestOCILayout(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	layout, err := oci.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, layout, "")
	if err := layout.Tag(ctx, img, "myregistry.io/app:v1"); err != nil {
		t.Fatal(err)
	}
	sig := regtest.PushArtifact(t, layout, img, notationType, []byte("sig"), nil)
	var _ orasgo.Target = layout

	cfg, err := oras.ConfigFromParameters("fixtures", oras.TypeLayout,
		json.RawMessage(`{"path": "`+dir+`", "scopes": ["myregistry.io/*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, cfg)
	d, err := s.Resolve(ctx, mustRef(t, "myregistry.io/app:v1"))
	if err != nil || d.Digest != img.Digest {
		t.Fatalf("resolve by tag: %v %v", d, err)
	}
	subject := mustRef(t, "myregistry.io/app@"+img.Digest.String())
	refs, err := s.Referrers(ctx, subject, notationType)
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Fatalf("referrers: %v %v", refs, err)
	}
	if _, err := s.Fetch(ctx, subject, refs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, mustRef(t, "myregistry.io/app:v2")); !errors.Is(err, oras.ErrNotFound) {
		t.Fatalf("missing tag: %v", err)
	}
	if _, err := s.Resolve(ctx, mustRef(t, "other.io/app:v1")); !errors.Is(err, oras.ErrNoStore) {
		t.Fatalf("reference outside the scopes: %v", err)
	}
}

func TestConfigFromParametersErrors(t *testing.T) {
	for _, c := range []struct{ typ, params, want string }{
		{"s3", `{}`, "unknown store"},
		{oras.TypeRemote, `{"authProvider": {"name": "magic"}}`, "unknown authProvider"},
		{oras.TypeRemote, `{"useHttp": "yes"}`, "parameters"},
		{oras.TypeRemote, `{"referrersCacheTTL": "soon"}`, "referrersCacheTTL"},
	} {
		if _, err := oras.ConfigFromParameters("s", c.typ, json.RawMessage(c.params)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want an error about %s", c.typ, c.params, err, c.want)
		}
	}
	cfg, err := oras.ConfigFromParameters("s", oras.TypeLayout, json.RawMessage(`{"path": "/does/not/exist"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.New(context.Background(), []oras.Config{cfg}, oras.Options{}); err == nil {
		t.Fatal("a layout store with a missing directory was accepted")
	}
	// Ratify's azure provider loads in a pod the workload identity webhook
	// gave its variables (without them, see TestAzureMissingEnvironment).
	t.Setenv(oras.EnvAzureTenantID, "t")
	t.Setenv(oras.EnvAzureFederatedTokenFile, "/var/run/secrets/azure/tokens/azure-identity-token")
	t.Setenv(oras.EnvAzureAuthorityHost, "https://login.microsoftonline.com/")
	if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(`{"authProvider": {"name": "azureWorkloadIdentity", "clientID": "x"}}`)); err != nil {
		t.Fatal(err)
	}
	// A provider not supported yet loads; it only fails when a registry asks for credentials.
	if _, err := oras.ConfigFromParameters("s", oras.TypeRemote, json.RawMessage(`{"authProvider": {"name": "k8Secrets"}}`)); err != nil {
		t.Fatal(err)
	}
}
