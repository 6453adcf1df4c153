// Package oras is the store every verification builtin reads through: it
// resolves image references, lists an image's referrers (signatures,
// attestations) and fetches their manifests and blobs, from OCI registries
// (on oras-go v2) and from OCI-layout directories.
package oras

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/seed-12b584bc/ratify/internal/lru"
)

// Store types, as named in a Store resource's `spec.name`.
const (
	TypeRemote = "oras"
	TypeLayout = "oci-layout"
)

// CosignSignatureArtifactType is the artifact type under which a cosign
// signature found at the `sha256-<hex>.sig` tag is presented.
const CosignSignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// Defaults, as in Ratify where Ratify has one.
const (
	DefaultReferrersTTL     = 10 * time.Second
	DefaultMaxManifestBytes = 4 << 20
	DefaultMaxBlobBytes     = 32 << 20
	// DefaultContentCacheBytes bounds the cache of signature manifests and
	// envelopes. A decision reads them once and is then answered from the
	// decision cache; the content cache only spares their fetch when the same
	// image is decided again (another policy scope, a new configuration
	// revision), so it holds a few thousand images' signatures, not all.
	DefaultContentCacheBytes = 8 << 20
	// contentEntryBytes is a content entry's cost beside its bytes: the
	// digest key, the entry and the map's share.
	contentEntryBytes = 192
	// DefaultReferrersCacheBytes bounds the cached referrer lists, by the
	// estimated size of their descriptors (a registry decides how many
	// referrers and how large their annotations are).
	DefaultReferrersCacheBytes = 16 << 20
	// resolutions are small, but their keys (references) are the caller's
	resolvedCacheBytes = 4 << 20
	// entryBytes is what a cache entry holds beside its key's strings and
	// its value's: the key and value structs, the map's and the clock's
	// share, and the request string the reference's fields are cut from.
	entryBytes = 320
)

// Config describes one store: a remote registry client or an OCI layout.
type Config struct {
	// Name identifies the store in messages (the Store resource's name).
	Name string
	// Type is TypeRemote or TypeLayout.
	Type string
	// Scopes limits the references the store serves: `*`, `host/repo`,
	// `host/*`, `host/prefix/*` or `host/prefix*`, matched as ScopeMatches
	// does (the host's spelling does not matter). Empty means every
	// reference. Stores with scopes are consulted before stores without.
	//
	// References drop the HTTPS port `:443` (see ParseReference). With
	// PlainHTTP, a host written with `:443` in a scope is dialled on port
	// 443 for every reference to that host; other hosts without a port
	// are dialled on 80, as HTTP does.
	Scopes []string

	// Path is the OCI-layout directory (TypeLayout).
	Path string

	// PlainHTTP talks HTTP instead of HTTPS (Ratify's `useHttp`).
	PlainHTTP bool
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// Auth supplies credentials, any oras-go credential function (see
	// Anonymous, StaticAuth, NewDockerConfigAuth, BoundTo); nil means
	// anonymous.
	Auth auth.CredentialFunc
	// Provider, when set, is the stateful auth provider Auth came from
	// (NewConfig sets it for the Azure providers): each registry store
	// binds it (AuthProvider.Bind) and uses the credential function it
	// returns in place of Auth.
	Provider AuthProvider
	// Retry bounds retries of throttled (429) and failed (5xx) requests.
	Retry RetryPolicy
	// Transport is the base HTTP transport; nil means a clone of
	// http.DefaultTransport. Wrap it to observe registry traffic.
	Transport http.RoundTripper

	// CosignEnabled also discovers cosign's `sha256-<hex>.sig` tag.
	CosignEnabled bool
	// ReferrersTTL is how long a referrer list is reused; 0 means
	// DefaultReferrersTTL, negative disables the cache.
	ReferrersTTL time.Duration
	// MaxManifestBytes and MaxBlobBytes bound fetched content; 0 means default.
	MaxManifestBytes int64
	MaxBlobBytes     int64
}

// Options are store-wide settings.
type Options struct {
	// ContentCacheBytes bounds the cache of immutable content (manifests and
	// blobs by digest); 0 means DefaultContentCacheBytes, negative disables it.
	ContentCacheBytes int64
	// ReferrersCacheBytes bounds the cache of referrer lists (each kept for
	// its store's ReferrersTTL), by the estimated size of the descriptors;
	// 0 means DefaultReferrersCacheBytes, negative disables it.
	ReferrersCacheBytes int64
	Logger              *slog.Logger
	// WrapTransport, when set, wraps every registry store's transport (to
	// count or log registry requests).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// ObserveExchange, when set, is told of every token exchange an auth
	// provider makes (kind AzureExchangeAAD: a token from Entra ID;
	// AzureExchangeACR: ACR's /oauth2/exchange), for metrics.
	ObserveExchange func(kind string, d time.Duration, err error)
	// IdentityTransport, when set, carries the auth providers' requests to
	// their identity service (Entra ID, the managed identity endpoint) in
	// place of the Azure SDK's default HTTP client: for tests against
	// simulators. Production leaves it nil.
	IdentityTransport http.RoundTripper
}

// backend is one configured source of content.
type backend interface {
	resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error)
	// fetchReference resolves and reads a manifest in one step, verified
	// against its digest and bounded by limit.
	fetchReference(ctx context.Context, ref Reference, limit int64) (ocispec.Descriptor, []byte, error)
	referrers(ctx context.Context, subject Reference, artifactType string) ([]ocispec.Descriptor, error)
	fetch(ctx context.Context, ref Reference, desc ocispec.Descriptor) (io.ReadCloser, error)
	// exists reports whether ref's repository holds desc.
	exists(ctx context.Context, ref Reference, desc ocispec.Descriptor) (bool, error)
}

type configured struct {
	cfg Config
	// scopes are cfg.Scopes normalised (NormalizeScope).
	scopes  []string
	backend backend
	// index keys this store's entries in the shared caches.
	index int
}

// cacheKey names a reference in the caches the stores share: which store
// (its index) and the reference, its parsed fields as they are, so a
// cached answer builds no string. Made by keyOf.
type cacheKey struct {
	store int
	ref   Reference
}

// keyOf is the key of ref in store's entries. A reference with a digest
// names what the digest names, whatever its tag (as Reference.String).
func keyOf(store int, ref Reference) cacheKey {
	if ref.Digest != "" {
		ref.Tag = ""
	}
	return cacheKey{store, ref}
}

// bytes estimates the memory the key holds.
func (k cacheKey) bytes() int64 {
	return int64(len(k.ref.Registry)+len(k.ref.Repository)+len(k.ref.Tag)+len(k.ref.Digest)) + 72
}

// Store routes each reference to the first configured store whose scopes
// match, and caches what can be cached.
type Store struct {
	stores  []*configured
	content *lru.Cache[digest.Digest, []byte]
	// referrers caches referrer lists, resolved caches resolutions, each
	// entry for its store's ReferrersTTL: a digest names immutable content
	// (only its deletion is not), and a tag that moves is seen moved within
	// the TTL, as Ratify's subject cache does. Both are bounded by bytes.
	referrers *lru.Cache[cacheKey, []ocispec.Descriptor]
	resolved  *lru.Cache[cacheKey, ocispec.Descriptor]
	// flight shares a resolution or a listing among the callers asking
	// for the same one at once (the pods of one rollout).
	flight inFlight
	log    *slog.Logger
}

// New builds a store from its configurations.
func New(ctx context.Context, cfgs []Config, opts Options) (*Store, error) {
	if len(cfgs) == 0 {
		return nil, errors.New("oras: no store configured")
	}
	s := &Store{log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	cacheBytes := opts.ContentCacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultContentCacheBytes
	}
	s.content = lru.New[digest.Digest, []byte](cacheBytes, 0)
	refBytes := opts.ReferrersCacheBytes
	if refBytes == 0 {
		refBytes = DefaultReferrersCacheBytes
	}
	// Entries are added with their store's ReferrersTTL (lru.AddTTL; a
	// negative TTL, caching disabled, stores nothing).
	s.referrers = lru.New[cacheKey, []ocispec.Descriptor](refBytes, 0)
	s.resolved = lru.New[cacheKey, ocispec.Descriptor](resolvedCacheBytes, 0)

	var scoped, unscoped []*configured
	for i, cfg := range cfgs {
		cfg = withDefaults(cfg)
		scopes := make([]string, 0, len(cfg.Scopes))
		for _, sc := range cfg.Scopes {
			n, err := validateScope(sc)
			if err != nil {
				return nil, fmt.Errorf("store %q: %w", cfg.Name, err)
			}
			scopes = append(scopes, n)
		}
		var (
			b   backend
			err error
		)
		switch cfg.Type {
		case TypeRemote, "":
			b, err = newRemote(cfg, opts)
		case TypeLayout:
			b, err = newLayout(ctx, cfg, scopes)
		default:
			err = fmt.Errorf("unknown store type %q (want %q or %q)", cfg.Type, TypeRemote, TypeLayout)
		}
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", cfg.Name, err)
		}
		c := &configured{cfg: cfg, scopes: scopes, backend: b, index: i}
		if len(scopes) > 0 {
			scoped = append(scoped, c)
		} else {
			unscoped = append(unscoped, c)
		}
	}
	s.stores = append(scoped, unscoped...)
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.ReferrersTTL == 0 {
		cfg.ReferrersTTL = DefaultReferrersTTL
	}
	if cfg.MaxManifestBytes <= 0 {
		cfg.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if cfg.MaxBlobBytes <= 0 {
		cfg.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if cfg.Auth == nil {
		cfg.Auth = Anonymous
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Type
	}
	return cfg
}

// validateScope normalises a store scope and checks its form. A wildcard
// must stand after the host (`host/*`, `host/prefix*`): `myregistry.io*`
// would route references of `myregistry.io.attacker.com` to the store.
func validateScope(sc string) (string, error) {
	n, err := NormalizeScope(sc)
	if err != nil {
		return "", fmt.Errorf("%w; want `*`, `host/repo`, `host/*` or `host/prefix/*`", err)
	}
	if n == "*" {
		return n, nil
	}
	host, repo, found := strings.Cut(n, "/")
	if !found || host == "" || repo == "" {
		return "", fmt.Errorf("scope %q: want `*`, `host/repo`, `host/*` or `host/prefix/*`", sc)
	}
	return n, nil
}

func scopeMatches(scopes []string, ref Reference) bool {
	if len(scopes) == 0 {
		return true
	}
	name := ref.Name()
	for _, sc := range scopes {
		if matchNormalizedScope(sc, name) {
			return true
		}
	}
	return false
}

func (s *Store) route(op string, ref Reference) (*configured, error) {
	for _, c := range s.stores {
		if scopeMatches(c.scopes, ref) {
			return c, nil
		}
	}
	return nil, &Error{Op: op, Ref: ref.String(), Kind: ErrNoStore}
}

// Resolve returns the descriptor of the manifest ref names; for a tag, this
// is the tag → digest resolution. A digest reference is checked to exist.
func (s *Store) Resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error) {
	c, err := s.route("resolve", ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if desc, ok := s.cachedResolution(c, ref); ok {
		return desc, nil
	}
	v, err := s.shared(ctx, "resolve", c, ref.String(), func(ctx context.Context) (any, error) {
		return s.resolve(ctx, c, ref)
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return v.(ocispec.Descriptor), nil
}

func (s *Store) resolve(ctx context.Context, c *configured, ref Reference) (ocispec.Descriptor, error) {
	desc, err := c.backend.resolve(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, wrap("resolve", ref.String(), err)
	}
	if ref.Digest != "" && desc.Digest != ref.Digest {
		return ocispec.Descriptor{}, &Error{Op: "resolve", Ref: ref.String(), Kind: ErrDigestMismatch,
			Err: fmt.Errorf("registry answered %s", desc.Digest)}
	}
	if desc.Size > c.cfg.MaxManifestBytes {
		return ocispec.Descriptor{}, &Error{Op: "resolve", Ref: ref.String(), Kind: ErrTooLarge,
			Err: fmt.Errorf("manifest is %d bytes, limit %d", desc.Size, c.cfg.MaxManifestBytes)}
	}
	s.cacheResolution(c, ref, desc)
	if ref.Digest == "" {
		// The policy asks next for the same image by digest.
		s.cacheResolution(c, ref.WithDigest(desc.Digest), desc)
	}
	return desc, nil
}

func (s *Store) cachedResolution(c *configured, ref Reference) (ocispec.Descriptor, bool) {
	if c.cfg.ReferrersTTL <= 0 {
		return ocispec.Descriptor{}, false
	}
	return s.resolved.Get(keyOf(c.index, ref))
}

func (s *Store) cacheResolution(c *configured, ref Reference, desc ocispec.Descriptor) {
	if c.cfg.ReferrersTTL <= 0 {
		return
	}
	key := keyOf(c.index, ref)
	s.resolved.AddTTL(key, desc, entryBytes+key.bytes()+descriptorBytes(desc), c.cfg.ReferrersTTL)
}

// descriptorBytes estimates the memory a descriptor holds.
func descriptorBytes(d ocispec.Descriptor) int64 {
	n := 96 + len(d.MediaType) + len(d.Digest) + len(d.ArtifactType) + len(d.Data)
	for k, v := range d.Annotations {
		n += 32 + len(k) + len(v)
	}
	for _, u := range d.URLs {
		n += 16 + len(u)
	}
	if p := d.Platform; p != nil {
		n += 64 + len(p.Architecture) + len(p.OS) + len(p.OSVersion) + len(p.Variant)
		for _, f := range p.OSFeatures {
			n += 16 + len(f)
		}
	}
	return int64(n)
}

// ResolveCached answers Resolve from the resolution cache only, without
// any registry request; ok is false when ref was not resolved recently.
func (s *Store) ResolveCached(ref Reference) (ocispec.Descriptor, bool) {
	c, err := s.route("resolve", ref)
	if err != nil {
		return ocispec.Descriptor{}, false
	}
	return s.cachedResolution(c, ref)
}

// Referrers lists the artifacts whose subject is the manifest ref names (ref
// must carry a digest), optionally only those of artifactType. With cosign
// enabled, a signature at the `sha256-<hex>.sig` tag is included as an
// artifact of type CosignSignatureArtifactType. The full list is fetched
// once and filtered here (server-side filtering is optional in the spec,
// and one list serves every type a policy asks for); it is cached for the
// store's ReferrersTTL.
func (s *Store) Referrers(ctx context.Context, ref Reference, artifactType string) ([]ocispec.Descriptor, error) {
	if ref.Digest == "" {
		return nil, &Error{Op: "referrers", Ref: ref.String(), Kind: ErrInvalidReference, Err: errors.New("a digest is required; resolve the tag first")}
	}
	c, err := s.route("referrers", ref)
	if err != nil {
		return nil, err
	}
	key := keyOf(c.index, Reference{Registry: ref.Registry, Repository: ref.Repository, Digest: ref.Digest})
	list, ok := s.referrers.Get(key)
	if !ok {
		v, err := s.shared(ctx, "referrers", c, key.ref.String(), func(ctx context.Context) (any, error) {
			list, err := s.listReferrers(ctx, c, ref)
			if err != nil {
				return nil, err
			}
			cost := entryBytes + key.bytes()
			for _, d := range list {
				cost += descriptorBytes(d)
			}
			s.referrers.AddTTL(key, list, cost, c.cfg.ReferrersTTL)
			return list, nil
		})
		if err != nil {
			return nil, err
		}
		list = v.([]ocispec.Descriptor)
	}
	if artifactType == "" {
		return list, nil
	}
	out := []ocispec.Descriptor{}
	for _, d := range list {
		if d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}

// listReferrers asks for the referrer list and, with cosign enabled,
// cosign's `.sig` tag at once: neither needs the other's answer, so the
// two cost one round trip. The budget in ctx is charged for both as ever.
func (s *Store) listReferrers(ctx context.Context, c *configured, ref Reference) ([]ocispec.Descriptor, error) {
	var (
		sig      ocispec.Descriptor
		found    bool
		sigErr   error
		sigPanic any
		sigReady chan struct{}
	)
	if c.cfg.CosignEnabled {
		sigReady = make(chan struct{})
		go func() {
			defer close(sigReady)
			// A panic here is raised again below, where the caller's
			// recovery sees it.
			defer func() { sigPanic = recover() }()
			sig, found, sigErr = s.cosignSignature(ctx, c, ref)
		}()
	}
	list, err := c.backend.referrers(ctx, ref, "")
	if sigReady != nil {
		<-sigReady
		if sigPanic != nil {
			panic(sigPanic)
		}
	}
	if err != nil {
		return nil, wrap("referrers", ref.String(), err)
	}
	if sigErr != nil {
		return nil, sigErr
	}
	if found {
		list = append(list, sig)
	}
	if list == nil {
		list = []ocispec.Descriptor{}
	}
	return list, nil
}

// cosignSignature looks for cosign's tag-based signature of ref. It GETs
// the manifest rather than HEADs it: the verifier reads it next, and the
// content cache then already holds it (one registry request, not two).
func (s *Store) cosignSignature(ctx context.Context, c *configured, ref Reference) (ocispec.Descriptor, bool, error) {
	sigRef := ref
	sigRef.Digest = ""
	sigRef.Tag = CosignSignatureTag(ref.Digest)
	desc, b, err := c.backend.fetchReference(ctx, sigRef, c.cfg.MaxManifestBytes)
	if err != nil {
		err = wrap("referrers", sigRef.String(), err)
		if errors.Is(err, ErrNotFound) {
			return ocispec.Descriptor{}, false, nil
		}
		return ocispec.Descriptor{}, false, err
	}
	s.content.Add(desc.Digest, b, int64(len(b))+contentEntryBytes)
	desc.ArtifactType = CosignSignatureArtifactType
	return desc, true, nil
}

// CosignSignatureTag is the tag cosign stores the signatures of d under.
func CosignSignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// Fetch returns the content desc describes, from the repository of ref,
// verified against desc's digest and size and bounded by the store's limits.
// Content is cached by digest.
func (s *Store) Fetch(ctx context.Context, ref Reference, desc ocispec.Descriptor) ([]byte, error) {
	name := ref.Name() + "@" + desc.Digest.String()
	if err := desc.Digest.Validate(); err != nil {
		return nil, &Error{Op: "fetch", Ref: name, Kind: ErrInvalidReference, Err: err}
	}
	if b, ok := s.content.Get(desc.Digest); ok {
		return b, nil
	}
	c, err := s.route("fetch", ref)
	if err != nil {
		return nil, err
	}
	limit := c.cfg.MaxBlobBytes
	if IsManifest(desc.MediaType) {
		limit = c.cfg.MaxManifestBytes
	}
	if desc.Size < 0 || desc.Size > limit {
		return nil, &Error{Op: "fetch", Ref: name, Kind: ErrTooLarge,
			Err: fmt.Errorf("%d bytes, limit %d", desc.Size, limit)}
	}
	rc, err := c.backend.fetch(ctx, ref, desc)
	if err != nil {
		return nil, wrap("fetch", name, err)
	}
	defer rc.Close()
	// ReadAll reads at most desc.Size bytes and fails on a size or digest
	// mismatch, so a registry cannot feed us more or other bytes.
	b, err := readAll(rc, desc)
	if err != nil {
		return nil, wrap("fetch", name, err)
	}
	s.content.Add(desc.Digest, b, int64(len(b))+contentEntryBytes)
	return b, nil
}

// IsManifest reports whether mediaType is an image manifest or index type.
func IsManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.artifact.manifest.v1+json":
		return true
	}
	return false
}
