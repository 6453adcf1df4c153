package oras

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/seed-12b584bc/ratify/internal/lru"
)

// RetryPolicy bounds retries of throttled (429), failed (5xx) and reset
// requests. Zero values take the defaults.
type RetryPolicy struct {
	// MaxRetries after the first attempt; default 3, negative disables retries.
	MaxRetries int
	// Backoff is the first wait, doubled each retry; default 200ms.
	Backoff time.Duration
	// MaxWait caps one wait; default 2s. A Retry-After asking for longer is
	// not waited for: the request fails as throttled at once, so a caller
	// under an admission deadline gets an answer in time.
	MaxWait time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = 3
	}
	if p.Backoff <= 0 {
		p.Backoff = 200 * time.Millisecond
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 2 * time.Second
	}
	return p
}

// Retry implements oras-go's retry.Policy.
func (p RetryPolicy) Retry(attempt int, resp *http.Response, err error) (time.Duration, error) {
	if attempt >= p.MaxRetries {
		return -1, nil
	}
	if ok, err := retry.DefaultPredicate(resp, err); err != nil || !ok {
		return -1, err
	}
	wait := p.Backoff << attempt
	if resp != nil {
		if after, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			if after > p.MaxWait {
				return -1, nil
			}
			wait = after
		}
	}
	return min(wait, p.MaxWait), nil
}

// retryAfter parses Retry-After as delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 1<<30)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// remoteBackend talks to registries over HTTP(S).
type remoteBackend struct {
	cfg    Config
	client *auth.Client
	// health is what the store's auth provider observed of its exchanges.
	health authHealth

	// port443 are the hosts a PlainHTTP store dials on port 443: those its
	// scopes write with `:443`, which references drop.
	port443 map[string]bool

	mu sync.Mutex
	// One Repository per repository name, for everything but referrer
	// listings (which set the referrers capability a Repository keeps for
	// good, see referrers). At most maxRepositories are remembered.
	repos *lru.Cache[string, *remote.Repository]
	// noAPI are the hosts seen without the referrers API.
	noAPI *noAPIHosts
}

// maxRepositories bounds the repository clients a registry store keeps.
const maxRepositories = 4096

func newRemote(cfg Config, opts Options) (*remoteBackend, error) {
	base := cfg.Transport
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		if cfg.CAFile != "" {
			pool, err := loadCAs(cfg.CAFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		base = tr
	} else if cfg.CAFile != "" {
		return nil, fmt.Errorf("a custom CA bundle needs the default transport")
	}
	if opts.WrapTransport != nil {
		base = opts.WrapTransport(base)
	}
	policy := cfg.Retry.withDefaults()
	// The budget counts every attempt; the retry policy does not retry its refusal.
	var rt http.RoundTripper = &retry.Transport{Base: drainTransport{next: budgetTransport{next: base}}, Policy: func() retry.Policy { return policy }}
	b := &remoteBackend{cfg: cfg, repos: lru.New[string, *remote.Repository](maxRepositories, 0), port443: map[string]bool{},
		noAPI: newNoAPIHosts()}
	credential := cfg.Auth
	if cfg.Provider != nil {
		var wrapAuth func(http.RoundTripper) http.RoundTripper
		credential, wrapAuth = cfg.Provider.Bind(AuthEnv{Transport: base,
			IdentityTransport: opts.IdentityTransport, ObserveExchange: opts.ObserveExchange, Logger: opts.Logger,
			Report: b.health.report})
		if wrapAuth != nil {
			rt = wrapAuth(rt)
		}
	}
	b.client = &auth.Client{
		Client:     &http.Client{Transport: rt},
		Cache:      newBoundedAuthCache(),
		Credential: credential,
	}
	b.client.SetUserAgent("ratify")
	if cfg.PlainHTTP {
		for _, sc := range cfg.Scopes {
			host, _, _ := strings.Cut(sc, "/")
			if strings.HasSuffix(host, ":443") {
				b.port443[normalizeHost(host)] = true
			}
		}
	}
	return b, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate found", path)
	}
	return pool, nil
}

func (b *remoteBackend) repo(ref Reference) *remote.Repository {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.repos.Get(ref.Name()); ok {
		return r
	}
	r := b.newRepo(ref)
	b.repos.Add(ref.Name(), r, 1)
	return r
}

func (b *remoteBackend) newRepo(ref Reference) *remote.Repository {
	return &remote.Repository{
		Client:           b.client,
		Reference:        registry.Reference{Registry: b.dialHost(ref.Registry), Repository: ref.Repository},
		PlainHTTP:        b.cfg.PlainHTTP,
		MaxMetadataBytes: b.cfg.MaxManifestBytes,
		// A registry could page forever; no image has anywhere near this many.
		ReferrerListMaxPages: 100,
	}
}

// dialHost is where the registry of a (normalised) reference is reached.
func (b *remoteBackend) dialHost(registry string) string {
	switch {
	case registry == DockerHub:
		return dockerHubEndpoint
	case b.port443[registry]:
		return registry + ":443"
	}
	return registry
}

func (b *remoteBackend) resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error) {
	return b.repo(ref).Resolve(ctx, ref.Object())
}

// referrers lists subject's referrers with the OCI 1.1 API, following its
// Link pagination, or with the `sha256-<hex>` tag schema on a host without
// the API. Which one a host serves is remembered per host (noAPIHosts):
// the API is asked unless the host answered it with 404 recently, and a
// 404 sends this listing, and the host's next ones, to the tag schema.
// Each page's request and bytes are charged to the budget by the
// transport, which refuses the next page once it is spent.
func (b *remoteBackend) referrers(ctx context.Context, subject Reference, artifactType string) ([]ocispec.Descriptor, error) {
	host := b.dialHost(subject.Registry)
	if b.noAPI.has(host) {
		return b.listReferrers(ctx, subject, artifactType, false)
	}
	out, err := b.listReferrers(ctx, subject, artifactType, true)
	if errors.Is(err, errdef.ErrUnsupported) {
		b.noAPI.add(host)
		return b.listReferrers(ctx, subject, artifactType, false)
	}
	return out, err
}

// listReferrers lists with the API or with the tag schema, on a
// Repository of its own: oras-go's Repository keeps the first capability
// it is given (or finds) for its lifetime, the host's answer may change.
func (b *remoteBackend) listReferrers(ctx context.Context, subject Reference, artifactType string, api bool) ([]ocispec.Descriptor, error) {
	r := b.newRepo(subject)
	if err := r.SetReferrersCapability(api); err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	err := r.Referrers(ctx, ocispec.Descriptor{Digest: subject.Digest}, artifactType,
		func(page []ocispec.Descriptor) error {
			out = append(out, page...)
			return nil
		})
	return out, err
}

func (b *remoteBackend) fetch(ctx context.Context, ref Reference, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if budget := budgetFrom(ctx); budget != nil {
		// Refuse before the request what the budget cannot take anyway.
		if err := budget.affords(desc.Size); err != nil {
			return nil, err
		}
	}
	return b.repo(ref).Fetch(ctx, desc)
}

func (b *remoteBackend) exists(ctx context.Context, ref Reference, desc ocispec.Descriptor) (bool, error) {
	return b.repo(ref).Exists(ctx, desc)
}

func (b *remoteBackend) fetchReference(ctx context.Context, ref Reference, limit int64) (ocispec.Descriptor, []byte, error) {
	desc, rc, err := b.repo(ref).FetchReference(ctx, ref.Object())
	if err != nil {
		return desc, nil, err
	}
	defer rc.Close()
	return readVerified(rc, desc, limit)
}
