package azuresim

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// This file is a simulated Azure Container Registry: the authentication
// endpoints of ACR's documented REST API (the "Authentication - Exchange
// AAD Access Token For Acr Refresh Token" and "Get Acr Access Token"
// operations, as in the Docker token flow ACR implements), in front of a
// real distribution registry:
//
//	POST /oauth2/exchange   form grant_type=access_token, service, tenant, access_token (an Entra ID token for
//	                        https://containerregistry.azure.net)  →  {"refresh_token": ...}
//	GET  /oauth2/token      ?service&scope, Basic 00000000-0000-0000-0000-000000000000:<refresh token>  →  {"access_token": ...}
//	POST /oauth2/token      form grant_type=refresh_token, service, scope, refresh_token  →  {"access_token": ...}
//	/v2/...                 the distribution registry
//
// The distribution registry runs with `auth: token` (realm: this server's
// /oauth2/token), so the registry itself refuses any request without an
// access token this simulator signed: the signing certificate chains to
// the registry's rootcertbundle. Refresh tokens are JWTs signed by the
// simulator (their exp is when they stop being accepted); the identity's
// role (AcrPull or AcrPush) decides the actions an access token grants.
// Errors are the registry's {"errors": [{"code", "message"}]}.

// ACR roles.
const (
	RoleAcrPull = "AcrPull"
	RoleAcrPush = "AcrPush"
)

// RefreshUsername is the user name that presents an ACR refresh token.
const RefreshUsername = "00000000-0000-0000-0000-000000000000"

// pusher is the identity of Repository's refresh tokens.
const pusher = "test-pusher"

// ACRCounts are the requests the registry answered, by kind.
type ACRCounts struct {
	Exchange, ExchangeRefused int
	Token, TokenRefused       int
	// Registry counts the requests passed to the distribution registry.
	Registry int
}

// ACR is a simulated registry.
type ACR struct {
	// Host is the login server, as in image references (name.azurecr.io,
	// or 127.0.0.1:port).
	Host  string
	entra *Entra
	key   *ecdsa.PrivateKey
	cert  *x509.Certificate
	up    *httputil.ReverseProxy

	mu              sync.Mutex
	roles           map[string]string // client ID → role
	refreshLifetime time.Duration
	accessLifetime  time.Duration
	revokedBefore   time.Time
	refuseRefresh   bool
	refuse          *refusal
	counts          ACRCounts
}

type refusal struct {
	status        int
	code, message string
}

// ACROptions configure StartACR.
type ACROptions struct {
	// Name is the login server's host name (such as ratifytest.azurecr.io,
	// served on port 443 of n); empty serves the registry at its loopback
	// address, which is then its Host.
	Name string
}

// StartACR starts a registry that trusts entra's tokens: the front server
// on n and a distribution registry behind it, until the test ends.
func StartACR(t testing.TB, n *Net, entra *Entra, o ACROptions) *ACR {
	t.Helper()
	a := &ACR{entra: entra, roles: map[string]string{}, refreshLifetime: 3 * time.Hour, accessLifetime: 75 * time.Minute}
	bundle, err := a.signingCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if o.Name != "" {
		names = append(names, o.Name)
	}
	// The front's address must be known before the registry starts (it is
	// the realm), and the registry's before the front serves: the handler
	// waits for the proxy.
	ready := make(chan struct{})
	addr := n.ServeTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		a.ServeHTTP(w, r)
	}), names...)
	a.Host = o.Name
	if a.Host == "" {
		a.Host = addr
	}
	reg := regtest.StartDistribution(t, regtest.DistributionOptions{Token: &regtest.TokenAuth{
		Realm: "https://" + a.Host + "/oauth2/token", Service: a.Host, Issuer: "azuresim-acr", RootCertBundle: bundle}})
	target := &url.URL{Scheme: "http", Host: reg.Host}
	a.up = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	close(ready)
	return a
}

// signingCert makes the key that signs access tokens, a certificate for it
// from a fresh CA, and writes the CA into a bundle file for the registry.
func (a *ACR) signingCert(dir string) (string, error) {
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "azuresim ACR token CA"})
	if err != nil {
		return "", err
	}
	signer, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "azuresim ACR token signer"}, KeyUsage: x509.KeyUsageDigitalSignature})
	if err != nil {
		return "", err
	}
	a.key, a.cert = signer.PrivateKey.(*ecdsa.PrivateKey), signer.Leaf
	path := filepath.Join(dir, "token-ca.pem")
	return path, os.WriteFile(path, ca.PEM(), 0o600)
}

// Assign gives the identity clientID a role on the registry.
func (a *ACR) Assign(clientID, role string) {
	a.mu.Lock()
	a.roles[clientID] = role
	a.mu.Unlock()
}

// SetLifetimes sets the lifetimes of the refresh and access tokens issued
// from now (ACR's are 3 h and 75 min).
func (a *ACR) SetLifetimes(refresh, access time.Duration) {
	a.mu.Lock()
	a.refreshLifetime, a.accessLifetime = refresh, access
	a.mu.Unlock()
}

// RefuseExchange makes /oauth2/exchange answer status with an error of
// code and message; status 0 answers normally again.
func (a *ACR) RefuseExchange(status int, code, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if status == 0 {
		a.refuse = nil
		return
	}
	a.refuse = &refusal{status: status, code: code, message: message}
}

// RevokeRefreshTokens refuses every refresh token issued until now.
func (a *ACR) RevokeRefreshTokens() {
	a.mu.Lock()
	// Tokens carry whole seconds: the ones of this second are revoked too.
	a.revokedBefore = time.Now().Truncate(time.Second).Add(time.Second)
	a.mu.Unlock()
	time.Sleep(time.Until(a.revokedBefore))
}

// RefuseRefreshTokens makes /oauth2/token refuse every refresh token, old
// or new, while on (as when the identity's role assignment is removed).
func (a *ACR) RefuseRefreshTokens(on bool) {
	a.mu.Lock()
	a.refuseRefresh = on
	a.mu.Unlock()
}

// Counts are the requests answered so far.
func (a *ACR) Counts() ACRCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}

func (a *ACR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth2/exchange" && r.Method == http.MethodPost:
		a.serveExchange(w, r)
	case r.URL.Path == "/oauth2/token" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		a.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2":
		a.mu.Lock()
		a.counts.Registry++
		a.mu.Unlock()
		if !a.accessTokenValid(r) {
			// As ACR does: an expired access token is refused at once (the
			// distribution registry would allow a minute of clock skew).
			w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm=%q,service=%q,error="invalid_token"`, "https://"+a.Host+"/oauth2/token", a.Host))
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the access token has expired")
			return
		}
		a.up.ServeHTTP(w, r)
	default:
		registryError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
	}
}

// accessTokenValid is false for a bearer token that has expired; every
// other request is left to the registry, which verifies the token's
// signature itself (so this front does not verify it a second time, a
// cost the real service does not have).
func (a *ACR) accessTokenValid(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return !ok || !jwtExpired(tok, time.Now())
}

func registryError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}

// refreshClaims are the claims of the refresh tokens this registry issues.
type refreshClaims struct {
	Aud    string `json:"aud"`
	Sub    string `json:"sub"`
	Tenant string `json:"tenant"`
	Role   string `json:"role"`
	Iat    int64  `json:"iat"`
}

func (a *ACR) serveExchange(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.counts.Exchange++
	refuse, lifetime := a.refuse, a.refreshLifetime
	a.mu.Unlock()
	fail := func(status int, code, msg string) {
		a.mu.Lock()
		a.counts.ExchangeRefused++
		a.mu.Unlock()
		registryError(w, status, code, msg)
	}
	if refuse != nil {
		fail(refuse.status, refuse.code, refuse.message)
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "UNSUPPORTED", "the request body is not a form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "access_token" {
		fail(http.StatusBadRequest, "UNSUPPORTED", "grant_type must be access_token")
		return
	}
	if f.Get("service") != a.Host {
		fail(http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("service %q is not this registry (%s)", f.Get("service"), a.Host))
		return
	}
	var claims struct {
		Aud   string `json:"aud"`
		Tid   string `json:"tid"`
		Appid string `json:"appid"`
	}
	if err := verifyJWT(a.entra.PublicKey(), f.Get("access_token"), time.Now(), &claims); err != nil {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", "the access token is not valid: "+err.Error())
		return
	}
	if strings.TrimSuffix(claims.Aud, "/") != ACRResource {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", fmt.Sprintf("the access token is for %q, not %s", claims.Aud, ACRResource))
		return
	}
	if t := f.Get("tenant"); t != "" && t != claims.Tid {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", fmt.Sprintf("the access token is of tenant %s, not %s", claims.Tid, t))
		return
	}
	a.mu.Lock()
	role := a.roles[claims.Appid]
	a.mu.Unlock()
	if role == "" {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", fmt.Sprintf("identity %s has no role assignment on registry %s", claims.Appid, a.Host))
		return
	}
	rt, err := a.RefreshToken(claims.Appid, role, lifetime)
	if err != nil {
		fail(http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"refresh_token": rt})
}

// RefreshToken issues a refresh token for subject with role, as the
// exchange does (tests push their images with one of RoleAcrPush).
func (a *ACR) RefreshToken(subject, role string, lifetime time.Duration) (string, error) {
	now := time.Now()
	return signJWT(a.key, map[string]any{
		"jti": newID(), "sub": subject, "aud": a.Host, "iss": "Azure Container Registry", "tenant": a.entra.Tenant,
		"role": role, "grant_type": "refresh_token", "version": "1.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
	}, nil)
}

func (a *ACR) serveToken(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.counts.Token++
	lifetime, revokedBefore, refuseAll := a.accessLifetime, a.revokedBefore, a.refuseRefresh
	a.mu.Unlock()
	fail := func(status int, code, msg string) {
		a.mu.Lock()
		a.counts.TokenRefused++
		a.mu.Unlock()
		if status == http.StatusUnauthorized {
			w.Header().Set("Www-Authenticate", fmt.Sprintf(`Basic realm=%q`, "https://"+a.Host+"/oauth2/token"))
		}
		registryError(w, status, code, msg)
	}
	var service, refresh string
	var scopes []string
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		service, scopes = q.Get("service"), q["scope"]
		user, pass, ok := r.BasicAuth()
		if !ok || user != RefreshUsername {
			fail(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required: present an ACR refresh token as the password of "+RefreshUsername)
			return
		}
		refresh = pass
	} else {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" {
			fail(http.StatusBadRequest, "UNSUPPORTED", "grant_type must be refresh_token")
			return
		}
		service, refresh = r.PostForm.Get("service"), r.PostForm.Get("refresh_token")
		scopes = strings.Fields(r.PostForm.Get("scope"))
	}
	if service != a.Host {
		fail(http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("service %q is not this registry (%s)", service, a.Host))
		return
	}
	var claims refreshClaims
	if err := verifyJWT(&a.key.PublicKey, refresh, time.Now(), &claims); err != nil {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", "the refresh token is not valid: "+err.Error())
		return
	}
	if claims.Aud != a.Host {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", "the refresh token is for registry "+claims.Aud)
		return
	}
	if refuseAll && claims.Sub != pusher {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", "the identity "+claims.Sub+" has no role assignment on this registry")
		return
	}
	if time.Unix(claims.Iat, 0).Before(revokedBefore) {
		fail(http.StatusUnauthorized, "UNAUTHORIZED", "the refresh token has been revoked")
		return
	}
	allowed := map[string]bool{"pull": true}
	if claims.Role == RoleAcrPush {
		allowed["push"] = true
		allowed["delete"] = true
	}
	access := []map[string]any{}
	for _, sc := range scopes {
		for _, s := range strings.Fields(sc) {
			parts := strings.Split(s, ":")
			if len(parts) != 3 || parts[0] != "repository" {
				continue
			}
			var actions []string
			for _, act := range strings.Split(parts[2], ",") {
				if act == "*" && claims.Role == RoleAcrPush {
					actions = append(actions, "*")
				} else if allowed[act] {
					actions = append(actions, act)
				}
			}
			access = append(access, map[string]any{"type": "repository", "name": parts[1], "actions": actions})
		}
	}
	now := time.Now()
	at, err := signJWT(a.key, map[string]any{
		"iss": "azuresim-acr", "sub": claims.Sub, "aud": a.Host, "jti": newID(),
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(lifetime).Unix(), "access": access,
	}, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(a.cert.Raw)}})
	if err != nil {
		fail(http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at})
}

// Repository is a client of repository name of a with a refresh token of
// role RoleAcrPush: the way tests push their images.
func (a *ACR) Repository(t testing.TB, n *Net, name string) *remote.Repository {
	t.Helper()
	rt, err := a.RefreshToken(pusher, RoleAcrPush, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(a.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.Client = &auth.Client{Client: n.Client(), Cache: auth.NewCache(),
		Credential: auth.StaticCredential(a.Host, auth.Credential{Username: RefreshUsername, Password: rt})}
	return repo
}
