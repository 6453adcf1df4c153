package oras

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// The Azure auth providers, by Ratify's names: an Entra ID token for ACR,
// obtained with Azure workload identity (the pod's projected service
// account token as a federated credential) or a managed identity, is
// exchanged at the registry's /oauth2/exchange for an ACR refresh token,
// which is the password of the credential oras-go presents to the
// registry's token endpoint.
const (
	AuthAzureWorkloadIdentity = "azureWorkloadIdentity"
	AuthAzureManagedIdentity  = "azureManagedIdentity"
)

// The environment the Azure workload identity webhook injects into a pod
// whose service account is annotated with a client ID and that is labelled
// azure.workload.identity/use: "true".
const (
	EnvAzureClientID           = "AZURE_CLIENT_ID"
	EnvAzureTenantID           = "AZURE_TENANT_ID"
	EnvAzureFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	EnvAzureAuthorityHost      = "AZURE_AUTHORITY_HOST"
)

// Kinds of exchange told to Options.ObserveExchange.
const (
	AzureExchangeAAD = "aad"
	AzureExchangeACR = "acr"
)

// DefaultACREndpoints are the registry hosts the Azure providers give
// credentials to when the Store names no endpoints: ACR in the public,
// US Government and China clouds.
func DefaultACREndpoints() []string { return []string{"*.azurecr.io", "*.azurecr.us", "*.azurecr.cn"} }

// ErrMissingEnv is the error of an Azure provider whose environment lacks
// a variable it needs.
var ErrMissingEnv = errors.New("environment variable not set")

const (
	// acrScope is the Entra ID scope of tokens ACR accepts.
	acrScope = "https://containerregistry.azure.net/.default"
	// acrUsername is the user name that presents an ACR refresh token.
	acrUsername = "00000000-0000-0000-0000-000000000000"
	// acrRefreshLifetime caps the use of an ACR refresh token (ACR's
	// default lifetime, as Ratify assumes).
	acrRefreshLifetime = 3 * time.Hour
	// aadMSALMargin is how long before expiry the Azure SDK stops handing
	// out its own cached Entra ID token: a renewal asked earlier would get
	// the same token back.
	aadMSALMargin = 5 * time.Minute
	// maxExchangeAnswer bounds what an exchange reads from a registry.
	maxExchangeAnswer = 64 << 10
)

// azureProvider is an Azure auth provider's configuration, read once from
// the Store's parameters and the environment.
type azureProvider struct {
	name     string // AuthAzureWorkloadIdentity or AuthAzureManagedIdentity
	clientID string // empty: a system-assigned managed identity
	tenantID string
	// tokenFile and authority are workload identity's.
	tokenFile, authority     string
	disableInstanceDiscovery bool
	// hosts are where the credentials may go (BoundTo).
	hosts []string
}

// newAzureProvider reads what provider a needs; a missing variable is an
// error naming it, so that the Store's status says what the pod lacks.
func newAzureProvider(a *AuthSettings) (*azureProvider, error) {
	p := &azureProvider{name: a.Name, clientID: a.ClientID, disableInstanceDiscovery: a.DisableInstanceDiscovery}
	for _, l := range []struct {
		name  string
		hosts []string
	}{{"endpoints", a.Endpoints}, {"hosts", a.Hosts}} {
		for _, h := range l.hosts {
			if err := checkHostPattern(h); err != nil {
				return nil, fmt.Errorf("authProvider.%s: %w", l.name, err)
			}
		}
	}
	p.hosts = append(append([]string{}, a.Endpoints...), a.Hosts...)
	if len(p.hosts) == 0 {
		p.hosts = DefaultACREndpoints()
	}
	missing := func(v, why string) error {
		return fmt.Errorf("authProvider %s: %w: %s (%s)", a.Name, ErrMissingEnv, v, why)
	}
	const webhook = "the Azure workload identity webhook sets it in pods labelled azure.workload.identity/use: \"true\""
	if p.clientID == "" {
		p.clientID = os.Getenv(EnvAzureClientID)
	}
	p.tenantID = os.Getenv(EnvAzureTenantID)
	if a.Name == AuthAzureManagedIdentity {
		if p.tenantID == "" {
			return nil, missing(EnvAzureTenantID, "the tenant of the managed identity, which the ACR token exchange names")
		}
		return p, nil
	}
	if p.tenantID == "" {
		return nil, missing(EnvAzureTenantID, "the tenant of the identity; "+webhook)
	}
	if p.clientID == "" {
		return nil, missing(EnvAzureClientID, "or authProvider.clientID; "+webhook)
	}
	if p.tokenFile = os.Getenv(EnvAzureFederatedTokenFile); p.tokenFile == "" {
		return nil, missing(EnvAzureFederatedTokenFile, "the projected service account token; "+webhook)
	}
	if p.authority = os.Getenv(EnvAzureAuthorityHost); p.authority == "" {
		return nil, missing(EnvAzureAuthorityHost, "the Entra ID authority, such as https://login.microsoftonline.com/; "+webhook)
	}
	if u, err := url.Parse(p.authority); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authProvider %s: %s %q is not an https URL", a.Name, EnvAzureAuthorityHost, p.authority)
	}
	return p, nil
}

// tokenCredential is the Azure SDK credential of p, its requests sent
// through identity when set.
func (p *azureProvider) tokenCredential(identity http.RoundTripper) (azcore.TokenCredential, error) {
	var opts azcore.ClientOptions
	if identity != nil {
		opts.Transport = &http.Client{Transport: identity}
	}
	if p.name == AuthAzureManagedIdentity {
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if p.clientID != "" {
			mo.ID = azidentity.ClientID(p.clientID)
		}
		return azidentity.NewManagedIdentityCredential(mo)
	}
	opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: p.authority}
	return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions:            opts,
		ClientID:                 p.clientID,
		TenantID:                 p.tenantID,
		TokenFilePath:            p.tokenFile,
		DisableInstanceDiscovery: p.disableInstanceDiscovery,
	})
}

// credential is p bound to no store: the default transports and no
// observer. Stores bind p themselves (Bind).
func (p *azureProvider) credential() (auth.CredentialFunc, error) {
	b, err := p.bind(AuthEnv{Transport: http.DefaultTransport})
	if err != nil {
		return nil, err
	}
	return BoundTo(p.hosts, b.credential), nil
}

// Bind implements AuthProvider: each store has its own tokens, exchanged
// through its transport. A credential the SDK cannot build (which
// NewConfig has already checked) answers every registry with the error.
func (p *azureProvider) Bind(env AuthEnv) (auth.CredentialFunc, func(http.RoundTripper) http.RoundTripper) {
	b, err := p.bind(env)
	if err != nil {
		return BoundTo(p.hosts, func(context.Context, string) (auth.Credential, error) {
			return auth.EmptyCredential, err
		}), nil
	}
	return BoundTo(p.hosts, b.credential), b.wrap
}

// boundAzure is an Azure provider serving one store: the Entra ID token
// (one for every registry) and an ACR refresh token per registry host,
// each renewed in the background before it expires.
type boundAzure struct {
	p       *azureProvider
	env     AuthEnv
	cred    azcore.TokenCredential
	client  *http.Client
	aad     *tokenCache
	refresh *tokenCache
}

func (p *azureProvider) bind(env AuthEnv) (*boundAzure, error) {
	cred, err := p.tokenCredential(env.IdentityTransport)
	if err != nil {
		return nil, fmt.Errorf("authProvider %s: %w", p.name, err)
	}
	if env.Transport == nil {
		env.Transport = http.DefaultTransport
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	b := &boundAzure{p: p, env: env, cred: cred,
		// The exchange is one POST to the registry; never follow a redirect with the Entra ID token.
		client: &http.Client{Transport: env.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	log := env.Logger.With("authProvider", p.name)
	b.aad = newTokenCache(b.fetchAAD, log)
	b.refresh = newTokenCache(b.fetchRefresh, log)
	return b, nil
}

// credential is the ACR credential of registry: the refresh token as the
// password of ACR's fixed user name.
func (b *boundAzure) credential(ctx context.Context, registry string) (auth.Credential, error) {
	rt, err := b.refresh.get(ctx, normalizeHost(registry))
	if err != nil {
		return auth.EmptyCredential, err
	}
	return auth.Credential{Username: acrUsername, Password: rt}, nil
}

func (b *boundAzure) observe(kind, host string, start time.Time, err error) {
	if b.env.ObserveExchange != nil {
		b.env.ObserveExchange(kind, time.Since(start), err)
	}
	if b.env.Report != nil {
		b.env.Report(host, err)
	}
}

// fetchAAD gets an Entra ID token for ACR.
func (b *boundAzure) fetchAAD(ctx context.Context, _ string) (token, error) {
	start := time.Now()
	at, err := b.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{acrScope}})
	if err != nil {
		err = b.aadError(err)
		b.observe(AzureExchangeAAD, "", start, err)
		return token{}, err
	}
	b.observe(AzureExchangeAAD, "", start, nil)
	renew, expires := tokenTimes(start, at.ExpiresOn)
	// Renewing while the SDK still hands out its cached token would get
	// that token back: renew once it would fetch a new one, or when
	// Entra ID suggests (refresh_in).
	renew = maxTime(renew, at.ExpiresOn.Add(-aadMSALMargin))
	if !at.RefreshOn.IsZero() && at.RefreshOn.After(start) && at.RefreshOn.Before(renew) {
		renew = at.RefreshOn
	}
	return token{value: at.Token, renew: renew, expires: expires}, nil
}

func (b *boundAzure) aadError(err error) error {
	who := "the managed identity"
	if b.p.clientID != "" {
		who = "client " + b.p.clientID
	}
	prefix := fmt.Sprintf("authProvider %s: no Entra ID token for %s in tenant %s", b.p.name, who, b.p.tenantID)
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		// The SDK's message is a multi-line report; the answer is what matters.
		resp := afe.RawResponse
		kind := ErrUnavailable
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			kind = ErrUnauthorized
		}
		where := ""
		if resp.Request != nil {
			where = " " + resp.Request.Method + " " + resp.Request.URL.Redacted() + ":"
		}
		body, _ := azruntime.Payload(resp)
		return &azureError{kind: kind, err: err, msg: fmt.Sprintf("%s:%s %s%s", prefix, where, resp.Status, oauthDetail(body))}
	}
	return &azureError{kind: ErrUnavailable, err: err, msg: prefix + ": " + oneLine(err.Error())}
}

// oauthDetail is what an OAuth error answer says (error and
// error_description), else its text, shortened.
func oauthDetail(body []byte) string {
	var doc struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error != "" {
		return shorten(": " + strings.TrimSpace(doc.Error+": "+doc.Description))
	}
	if s := oneLine(string(body)); s != "" {
		return shorten(": " + s)
	}
	return ""
}

func shorten(s string) string {
	if len(s) > 512 {
		return s[:512] + "..."
	}
	return s
}

// fetchRefresh exchanges the Entra ID token for host's ACR refresh token.
func (b *boundAzure) fetchRefresh(ctx context.Context, host string) (token, error) {
	aad, err := b.aad.get(ctx, "")
	if err != nil {
		return token{}, err
	}
	start := time.Now()
	rt, err := b.exchange(ctx, host, aad)
	b.observe(AzureExchangeACR, host, start, err)
	if err != nil {
		return token{}, err
	}
	exp := start.Add(acrRefreshLifetime)
	if e, ok := jwtExpiry(rt); ok && e.Before(exp) {
		exp = e
	}
	renew, expires := tokenTimes(start, exp)
	return token{value: rt, renew: renew, expires: expires}, nil
}

// exchange is ACR's POST /oauth2/exchange: an Entra ID access token for
// a refresh token of the registry.
func (b *boundAzure) exchange(ctx context.Context, host, aad string) (string, error) {
	// Always HTTPS, whatever the store's useHttp: the Entra ID token never
	// travels in the clear.
	endpoint := "https://" + host + "/oauth2/exchange"
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {aad}}
	if b.p.tenantID != "" {
		form.Set("tenant", b.p.tenantID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return "", &azureError{kind: ErrUnavailable, err: err,
			msg: fmt.Sprintf("authProvider %s: ACR token exchange at %s: %v", b.p.name, endpoint, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeAnswer))
	if err != nil {
		return "", &azureError{kind: ErrUnavailable, err: err,
			msg: fmt.Sprintf("authProvider %s: ACR token exchange at %s: reading the answer: %v", b.p.name, endpoint, err)}
	}
	if resp.StatusCode != http.StatusOK {
		kind := ErrUnavailable
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			kind = ErrUnauthorized
		}
		return "", &azureError{kind: kind, msg: fmt.Sprintf("authProvider %s: ACR refused the token exchange at %s: %s%s",
			b.p.name, endpoint, resp.Status, answerDetail(body))}
	}
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.RefreshToken == "" {
		return "", &azureError{kind: ErrUnavailable,
			msg: fmt.Sprintf("authProvider %s: ACR token exchange at %s: no refresh_token in the answer", b.p.name, endpoint)}
	}
	return answer.RefreshToken, nil
}

// azureError is a failure of an Azure provider, of one of the store's
// kinds (ErrUnauthorized: refused; ErrUnavailable: not answered), with a
// message that says which service answered what.
type azureError struct {
	kind error
	msg  string
	err  error
}

func (e *azureError) Error() string { return e.msg }

func (e *azureError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// answerDetail is what an error answer says: the messages of a registry
// error document, else its text, shortened.
func answerDetail(body []byte) string {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	var parts []string
	if json.Unmarshal(body, &doc) == nil {
		for _, e := range doc.Errors {
			parts = append(parts, strings.TrimSpace(e.Code+" "+e.Message))
		}
	}
	s := strings.Join(parts, "; ")
	if s == "" {
		s = oneLine(string(body))
	}
	if s == "" {
		return ""
	}
	return shorten(": " + s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// jwtExpiry reads the exp claim of a JWT without verifying it: it only
// says when to stop presenting the token, and the registry that issued
// it over TLS checks it.
func jwtExpiry(s string) (time.Time, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0), true
}
