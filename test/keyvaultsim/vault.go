// Package keyvaultsim is a simulated Azure Key Vault for tests: a local
// HTTPS server that speaks the Key Vault data-plane REST API (7.x, and the
// dated api-versions the current SDK modules send) for the calls ratify
// makes, so that the real azsecrets, azkeys and azcertificates clients can
// be driven against it:
//
//	GET /secrets/{name}/{version}        GET /secrets/{name}/versions
//	GET /keys/{name}/{version}           GET /keys/{name}/versions
//	GET /certificates/{name}/{version}   GET /certificates/{name}/versions
//
// (an empty version is the latest; listings page through nextLink). As the
// service does it:
//   - authentication is challenge based: a request without a token gets 401
//     with `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`,
//     and then only the token of Credential is accepted;
//   - a certificate is a certificate, a key and a secret of the same name and
//     version; its secret holds the chain, with the private key when the key
//     is exportable, as PEM (application/x-pem-file) or base64 PKCS#12
//     without password (application/x-pkcs12);
//   - a disabled secret answers 403 with code Forbidden and inner code
//     SecretDisabled; a disabled key or certificate is returned with
//     attributes.enabled false (Ratify relies on both), or, with
//     Options.DisabledKeysForbidden, a disabled key answers 403 KeyDisabled;
//   - errors are `{"error": {"code", "message", "innererror"}}`; Fail injects
//     throttling (429 with Retry-After) and server errors, SetLatency slow
//     answers, Forbid a missing permission.
//
// The vault is served at a name such as myvault.vault.azure.net, port 443,
// through HTTPClient, whose dialer maps that name alone to the loopback
// listener and whose TLS trusts only the simulator's fresh CA: nothing
// leaves the machine. Its fixtures (keys, certificate chains, PEM and
// PKCS#12 secrets) are made by code when a test adds them.
package keyvaultsim

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Resource is the vault's token audience, as the challenge names it.
const Resource = "https://vault.azure.net"

// Options shape a simulated vault.
type Options struct {
	// Name of the vault; it is served as Name.vault.azure.net. Default
	// "myvault".
	Name string
	// Host overrides the whole host name, for a vault whose host does not
	// end in the challenge's resource (a private cloud).
	Host string
	// TenantID the challenge names; default a fixed test tenant.
	TenantID string
	// PageSize caps the items of one page of a versions listing; default 25,
	// the service's maximum.
	PageSize int
	// DisabledKeysForbidden makes a disabled key answer 403 KeyDisabled
	// rather than its bundle with enabled false.
	DisabledKeysForbidden bool
	// Authorize, when set, decides which bearer tokens the vault accepts
	// in place of Credential's: those a simulated identity platform issued,
	// for the operations the caller's role assignments allow.
	Authorize Authorizer
}

// Authorizer decides whether a request's bearer token may do op ("get" or
// "list") on kind. Nil allows it; a *ForbiddenError is the service's 403
// Forbidden (inner code ForbiddenByRbac) with its message; any other
// error is a 401 challenge that says why the token was refused.
type Authorizer func(token string, kind Kind, op string) error

// ForbiddenError is an Authorizer's answer for a valid token whose caller
// lacks the permission.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

// DefaultTenantID is the tenant of a vault whose Options name none.
const DefaultTenantID = "72f988bf-0000-4000-8000-00000000cafe"

// Vault is a running simulated vault.
type Vault struct {
	host, tenant string
	pageSize     int
	keyForbidden bool
	authorize    Authorizer
	token        string
	srv          *httptest.Server
	roots        *x509.CertPool

	mu        sync.Mutex
	objects   map[Kind]map[string][]*version
	clock     time.Time
	fail      failure
	latency   time.Duration
	forbidden map[string]bool // "keys get", "secrets list", ...
	requests  []string
	clients   []*http.Transport
}

type failure struct {
	left   int // < 0: until cleared
	status int
}

// Start runs a vault for the test and stops it when the test ends.
func Start(t testing.TB, o Options) *Vault {
	t.Helper()
	v, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// New runs a vault on a loopback port; Close stops it.
func New(o Options) (*Vault, error) {
	if o.Name == "" {
		o.Name = "myvault"
	}
	if o.Host == "" {
		o.Host = o.Name + ".vault.azure.net"
	}
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.PageSize <= 0 || o.PageSize > 25 {
		o.PageSize = 25
	}
	tlsCfg, roots, err := serverTLS(o.Host)
	if err != nil {
		return nil, err
	}
	v := &Vault{
		host: strings.ToLower(o.Host), tenant: o.TenantID, pageSize: o.PageSize, keyForbidden: o.DisabledKeysForbidden, authorize: o.Authorize,
		token: "kvsim-" + newVersion(), roots: roots,
		objects:   map[Kind]map[string][]*version{Keys: {}, Secrets: {}, Certificates: {}},
		clock:     time.Now().Add(-24 * time.Hour).Truncate(time.Second),
		forbidden: map[string]bool{},
	}
	v.srv = httptest.NewUnstartedServer(http.HandlerFunc(v.serve))
	v.srv.TLS = tlsCfg
	v.srv.StartTLS()
	return v, nil
}

// Close stops the vault.
func (v *Vault) Close() {
	v.mu.Lock()
	clients := v.clients
	v.mu.Unlock()
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	v.srv.Close()
}

// URL is the vault URI, as a KeyManagementProvider's vaultURI gives it.
func (v *Vault) URL() string { return "https://" + v.host + "/" }

// Handler serves the vault's API, so that it can also be served on another
// simulated network under Host (port 443) with that network's TLS.
func (v *Vault) Handler() http.Handler { return http.HandlerFunc(v.serve) }

// Host is the vault's host name.
func (v *Vault) Host() string { return v.host }

// TenantID is the tenant the vault's challenge names.
func (v *Vault) TenantID() string { return v.tenant }

// HTTPClient reaches the vault, and nothing else: its dialer maps the
// vault's host (port 443) to the loopback listener and refuses any other
// address; its TLS trusts only the vault's CA.
func (v *Vault) HTTPClient() *http.Client {
	addr := v.srv.Listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: tlsClientConfig(v.roots),
		DialContext: func(ctx context.Context, network, target string) (net.Conn, error) {
			if !strings.EqualFold(target, v.host+":443") {
				return nil, fmt.Errorf("keyvaultsim: %s is not the simulated vault (%s:443)", target, v.host)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	v.mu.Lock()
	v.clients = append(v.clients, tr)
	v.mu.Unlock()
	return &http.Client{Transport: tr}
}

// ClientOptions are azcore options for the SDK clients: HTTPClient as the
// transport, and retries short enough for tests (a Retry-After of the
// vault exceeds their cap, so a throttled answer surfaces at once).
func (v *Vault) ClientOptions() *azcore.ClientOptions {
	return &azcore.ClientOptions{
		Transport: v.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond},
	}
}

// Credential is a token credential the vault accepts. It checks that the
// SDK asks for what the challenge said (the tenant, the resource's
// .default scope), as the identity platform would.
func (v *Vault) Credential() azcore.TokenCredential {
	return credentialFunc(func(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
		want := Resource + "/.default"
		if o.TenantID != v.tenant || len(o.Scopes) != 1 || o.Scopes[0] != want {
			return azcore.AccessToken{}, fmt.Errorf("keyvaultsim: token asked for tenant %q scopes %q, the challenge said tenant %q scope %q",
				o.TenantID, o.Scopes, v.tenant, want)
		}
		return azcore.AccessToken{Token: v.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
}

// StaticCredential always gives token, e.g. one the vault refuses.
func StaticCredential(token string) azcore.TokenCredential {
	return credentialFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
		return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
	})
}

type credentialFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f credentialFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

// Fail makes the next n authorized requests (n < 0: every one until
// Fail(0, 0)) answer status: 429 (with Retry-After), 500, 503, ...
func (v *Vault) Fail(n, status int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fail = failure{left: n, status: status}
}

// SetLatency delays every answer by d (until the client gives up).
func (v *Vault) SetLatency(d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.latency = d
}

// Forbid denies (or, with deny false, allows again) an operation, "get"
// or "list", on a kind, as a missing role assignment does.
func (v *Vault) Forbid(kind Kind, operation string, deny bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forbidden[string(kind)+" "+operation] = deny
}

// Requests are the requests served so far, as "GET /keys/name/version 200".
func (v *Vault) Requests() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.requests...)
}

// ErrNotFound is returned for an object or version the vault does not hold.
var ErrNotFound = errors.New("keyvaultsim: no such object")
