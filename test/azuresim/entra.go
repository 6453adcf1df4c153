package azuresim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is a simulated Microsoft Entra ID (Azure AD), speaking the
// documented Microsoft identity platform v2.0 endpoints a confidential
// client (MSAL, under azidentity's WorkloadIdentityCredential) calls:
//
//	GET  /common/discovery/instance?api-version=1.1&authorization_endpoint=...   instance discovery
//	GET  /{tenant}/v2.0/.well-known/openid-configuration                         OpenID Connect metadata
//	POST /{tenant}/oauth2/v2.0/token                                             token endpoint
//
// The token endpoint takes the client credentials grant with a client
// assertion (client_assertion_type
// urn:ietf:params:oauth:client-assertion-type:jwt-bearer), as Azure
// workload identity sends it: the assertion is the pod's projected service
// account token, accepted when it matches a federated identity credential
// of the application (issuer, subject, audience) and is signed by that
// issuer's key. Errors are Entra ID's: {"error", "error_description"
// with an AADSTS code, "error_codes", "timestamp", "trace_id",
// "correlation_id"}. Access tokens are JWTs for the requested resource with
// tid, appid and oid claims, which the simulated ACR verifies.

// TokenExchangeAudience is the audience of service account tokens that
// Entra ID accepts as federated credentials.
const TokenExchangeAudience = "api://AzureADTokenExchange"

// ACRResource is the resource (audience) of Entra ID tokens for ACR.
const ACRResource = "https://containerregistry.azure.net"

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// FederatedCredential is a federated identity credential of an Entra ID
// application: tokens of Issuer for Subject and Audience are accepted as
// its client assertion. Key is the issuer's signing key (the real service
// reads it from the issuer's OIDC discovery document).
type FederatedCredential struct {
	Issuer, Subject, Audience string
	Key                       *ecdsa.PublicKey
}

// EntraCounts are the requests Entra ID answered, by endpoint.
type EntraCounts struct {
	Token, TokenRefused, Metadata, InstanceDiscovery, IMDS int
}

// Entra is a simulated Entra ID tenant.
type Entra struct {
	Tenant string
	key    *ecdsa.PrivateKey

	mu        sync.Mutex
	lifetime  time.Duration
	workloads map[string][]FederatedCredential // client ID → credentials
	managed   map[string]bool                  // client ID ("" = system-assigned) → exists
	counts    EntraCounts
	instance  []string // authorization_endpoint of each instance discovery request
}

// NewEntra makes a tenant whose access tokens last an hour.
func NewEntra(tenant string) *Entra {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &Entra{Tenant: tenant, key: key, lifetime: time.Hour,
		workloads: map[string][]FederatedCredential{}, managed: map[string]bool{}}
}

// Serve serves Entra ID at LoginHost on n (and at the loopback address it
// returns, for an authority host that is not the public cloud's).
func (e *Entra) Serve(t testing.TB, n *Net) string {
	t.Helper()
	return n.ServeTLS(t, e, LoginHost)
}

// PublicKey verifies the access tokens e issues.
func (e *Entra) PublicKey() *ecdsa.PublicKey { return &e.key.PublicKey }

// SetTokenLifetime sets the lifetime of the access tokens issued from now.
func (e *Entra) SetTokenLifetime(d time.Duration) {
	e.mu.Lock()
	e.lifetime = d
	e.mu.Unlock()
}

// AddWorkloadIdentity registers the application clientID with a federated
// credential.
func (e *Entra) AddWorkloadIdentity(clientID string, fc FederatedCredential) {
	e.mu.Lock()
	e.workloads[clientID] = append(e.workloads[clientID], fc)
	e.mu.Unlock()
}

// Counts are the requests answered so far.
func (e *Entra) Counts() EntraCounts {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts
}

// InstanceDiscoveries are the authorization_endpoint parameters of the
// instance discovery requests answered so far.
func (e *Entra) InstanceDiscoveries() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.instance...)
}

func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		e.serveInstanceDiscovery(w, r)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		e.serveMetadata(w, r, parts[0])
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		e.serveToken(w, r, parts[0])
	default:
		e.oauthError(w, http.StatusNotFound, "invalid_request", 90002, "no such endpoint: "+r.Method+" "+r.URL.Path)
	}
}

// serveInstanceDiscovery answers as the service does for an authority:
// where its tenant's metadata is, and the public cloud's aliases.
func (e *Entra) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	authz := r.URL.Query().Get("authorization_endpoint")
	e.mu.Lock()
	e.counts.InstanceDiscovery++
	e.instance = append(e.instance, authz)
	e.mu.Unlock()
	u, err := url.Parse(authz)
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if err != nil || u.Host == "" || len(segs) == 0 || r.URL.Query().Get("api-version") == "" {
		e.oauthError(w, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": fmt.Sprintf("https://%s/%s/v2.0/.well-known/openid-configuration", u.Host, segs[0]),
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": LoginHost, "preferred_cache": "login.windows.net",
			"aliases": []string{LoginHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"},
		}, {
			"preferred_network": u.Host, "preferred_cache": u.Host, "aliases": []string{u.Host},
		}},
	})
}

func (e *Entra) serveMetadata(w http.ResponseWriter, r *http.Request, tenant string) {
	e.mu.Lock()
	e.counts.Metadata++
	e.mu.Unlock()
	if tenant != e.Tenant && tenant != "organizations" && tenant != "common" {
		e.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	base := "https://" + r.Host + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"issuer":                                base + "/v2.0",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "NA",
	})
}

func (e *Entra) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	e.mu.Lock()
	e.counts.Token++
	lifetime := e.lifetime
	e.mu.Unlock()
	refuse := func(status int, code string, aadsts int, msg string) {
		e.mu.Lock()
		e.counts.TokenRefused++
		e.mu.Unlock()
		e.oauthError(w, status, code, aadsts, msg)
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if tenant != e.Tenant {
		refuse(http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	switch {
	case f.Get("grant_type") != "client_credentials":
		refuse(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+f.Get("grant_type")+"'.")
		return
	case f.Get("client_assertion_type") != clientAssertionType || f.Get("client_assertion") == "":
		refuse(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	// MSAL adds the OpenID Connect scopes, which the service ignores here.
	var resources []string
	for _, sc := range strings.Fields(f.Get("scope")) {
		if sc != "openid" && sc != "offline_access" && sc != "profile" {
			resources = append(resources, sc)
		}
	}
	var resource string
	ok := len(resources) == 1
	if ok {
		resource, ok = strings.CutSuffix(resources[0], "/.default")
	}
	if !ok || resource == "" {
		refuse(http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+f.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	e.mu.Lock()
	creds, known := e.workloads[clientID]
	e.mu.Unlock()
	if !known {
		refuse(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, e.Tenant))
		return
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
	}
	var matched bool
	var last error
	for _, fc := range creds {
		if err := verifyJWT(fc.Key, f.Get("client_assertion"), time.Now(), &claims); err != nil {
			last = err
			continue
		}
		if claims.Iss == fc.Issuer && claims.Sub == fc.Subject && audienceHas(claims.Aud, fc.Audience) {
			matched = true
			break
		}
	}
	if !matched {
		detail := fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'.", claims.Sub)
		if last != nil && claims.Sub == "" {
			detail = "The client assertion could not be validated: " + last.Error() + "."
		}
		refuse(http.StatusUnauthorized, "invalid_client", 700213, detail)
		return
	}
	now := time.Now()
	at, err := signJWT(e.key, map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + e.Tenant + "/", "tid": e.Tenant,
		"appid": clientID, "oid": clientID, "sub": clientID, "idtyp": "app", "ver": "1.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
	}, nil)
	if err != nil {
		e.oauthError(w, http.StatusInternalServerError, "server_error", 0, err.Error())
		return
	}
	secs := int(lifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": at,
	})
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

func (e *Entra) oauthError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	desc := msg
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, msg)
	}
	trace := newID()
	writeJSON(w, status, map[string]any{
		"error": code, "error_description": desc + " Trace ID: " + trace,
		"error_codes": []int{aadsts}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id": trace, "correlation_id": newID(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Issuer is a Kubernetes service account token issuer (a cluster's OIDC
// issuer): it signs the projected tokens Azure workload identity presents.
type Issuer struct {
	URL string
	key *ecdsa.PrivateKey
}

// NewIssuer makes an issuer named url with a fresh key.
func NewIssuer(url string) *Issuer {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &Issuer{URL: url, key: key}
}

// Credential is the federated identity credential that trusts i's tokens
// for the service account namespace/name.
func (i *Issuer) Credential(namespace, name string) FederatedCredential {
	return FederatedCredential{Issuer: i.URL, Subject: "system:serviceaccount:" + namespace + ":" + name,
		Audience: TokenExchangeAudience, Key: &i.key.PublicKey}
}

// Token is a projected service account token of namespace/name for Entra
// ID, valid for lifetime.
func (i *Issuer) Token(namespace, name string, lifetime time.Duration) string {
	now := time.Now()
	tok, _ := signJWT(i.key, map[string]any{
		"iss": i.URL, "sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": []string{TokenExchangeAudience}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": name}},
	}, nil)
	return tok
}

// WriteToken writes a token of namespace/name valid for a day to path, as
// the kubelet projects it (AZURE_FEDERATED_TOKEN_FILE).
func (i *Issuer) WriteToken(t testing.TB, path, namespace, name string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(i.Token(namespace, name, 24*time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
}
