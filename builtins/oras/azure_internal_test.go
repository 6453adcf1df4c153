package oras

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// staticAAD is an Entra ID credential that issues "aad-token".
type staticAAD struct{ expires time.Time }

func (s staticAAD) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "aad-token", ExpiresOn: s.expires}, nil
}

// exchanger answers ACR's /oauth2/exchange with a refresh token (a JWT)
// that expires after life, and records the forms it was sent.
func exchanger(t *testing.T, life time.Duration, forms *[]url.Values) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/exchange" || r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		*forms = append(*forms, r.PostForm)
		enc := base64.RawURLEncoding.EncodeToString
		claims, _ := json.Marshal(map[string]any{"exp": time.Now().Add(life).Unix()})
		_ = json.NewEncoder(w).Encode(map[string]string{"refresh_token": enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + ".sig"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testBound(client *http.Client) *boundAzure {
	b := &boundAzure{p: &azureProvider{name: AuthAzureWorkloadIdentity, clientID: "c", tenantID: "tenant-1"},
		env: AuthEnv{Logger: slog.New(slog.DiscardHandler)}, cred: staticAAD{time.Now().Add(24 * time.Hour)}, client: client}
	b.aad = newTokenCache(b.fetchAAD, b.env.Logger)
	b.refresh = newTokenCache(b.fetchRefresh, b.env.Logger)
	return b
}

// A refresh token is used for at most 3 h, however long its exp claim
// says it lasts; a shorter exp is honoured. The exchange sends ACR's form.
func TestRefreshTokenLifetime(t *testing.T) {
	for _, c := range []struct {
		life, want time.Duration
	}{
		{24 * time.Hour, acrRefreshLifetime - time.Minute},
		{time.Hour, time.Hour - time.Minute},
	} {
		var forms []url.Values
		srv := exchanger(t, c.life, &forms)
		host := strings.TrimPrefix(srv.URL, "https://")
		start := time.Now()
		tok, err := testBound(srv.Client()).fetchRefresh(context.Background(), host)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.expires.Sub(start); got > c.want+time.Second || got < c.want-2*time.Second {
			t.Errorf("exp in %s: used for %s, want %s", c.life, got, c.want)
		}
		if got := tok.renew.Sub(start); got > (c.want+time.Minute)/2+time.Second || got < (c.want+time.Minute)/2-2*time.Second {
			t.Errorf("exp in %s: renewed after %s", c.life, got)
		}
		want := fmt.Sprint(url.Values{"grant_type": {"access_token"}, "service": {host}, "tenant": {"tenant-1"}, "access_token": {"aad-token"}})
		if len(forms) != 1 || fmt.Sprint(forms[0]) != want {
			t.Errorf("exchange forms %v, want one %s", forms, want)
		}
	}
}

// An Entra ID token is renewed when the SDK would fetch a new one (5 min
// before it expires), or from half its life when it is short.
func TestAADTokenRenewal(t *testing.T) {
	for _, c := range []struct{ life, renewAfter time.Duration }{
		{time.Hour, 55 * time.Minute},
		{4 * time.Minute, 2 * time.Minute},
	} {
		b := testBound(http.DefaultClient)
		start := time.Now()
		b.cred = staticAAD{start.Add(c.life)}
		tok, err := b.fetchAAD(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.renew.Sub(start); got > c.renewAfter+time.Second || got < c.renewAfter-time.Second {
			t.Errorf("%s token renewed after %s, want %s", c.life, got, c.renewAfter)
		}
	}
}
