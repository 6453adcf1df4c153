package azuresim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file is a simulated managed identity endpoint of the Azure
// Instance Metadata Service (IMDS), as documented for Azure VMs and AKS
// nodes:
//
//	GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...[&client_id=...]
//	Metadata: true
//
// answered with {"access_token", "client_id", "expires_in", "expires_on",
// "ext_expires_in", "not_before", "resource", "token_type"} (numbers as
// strings, as IMDS writes them), or {"error", "error_description"}. The
// tokens are Entra's (Entra.AddManagedIdentity registers the identities).

// AddManagedIdentity assigns a managed identity to the simulated node:
// clientID "" is the system-assigned one, any other a user-assigned one.
func (e *Entra) AddManagedIdentity(clientID string) {
	e.mu.Lock()
	e.managed[clientID] = true
	e.mu.Unlock()
}

// ServeIMDS serves the managed identity endpoint at IMDSHost on n.
func (e *Entra) ServeIMDS(t testing.TB, n *Net) {
	t.Helper()
	n.ServeHTTP(t, http.HandlerFunc(e.serveIMDS), IMDSHost)
}

func (e *Entra) serveIMDS(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.counts.IMDS++
	lifetime := e.lifetime
	e.mu.Unlock()
	q := r.URL.Query()
	fail := func(status int, code, msg string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
	}
	switch {
	case r.URL.Path != "/metadata/identity/oauth2/token" || r.Method != http.MethodGet:
		fail(http.StatusNotFound, "not_found", "no such endpoint")
		return
	case r.Header.Get("Metadata") != "true":
		fail(http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	case q.Get("api-version") == "":
		fail(http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
		return
	case q.Get("resource") == "":
		fail(http.StatusBadRequest, "invalid_request", "Required query variable 'resource' is missing")
		return
	}
	id := q.Get("client_id")
	e.mu.Lock()
	ok := e.managed[id]
	e.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	clientID := id
	if clientID == "" {
		clientID = "system-assigned-" + e.Tenant
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/")
	now := time.Now()
	at, err := signJWT(e.key, map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + e.Tenant + "/", "tid": e.Tenant,
		"appid": clientID, "oid": clientID, "sub": clientID, "idtyp": "app", "ver": "1.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
	}, nil)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	secs := strconv.Itoa(int(lifetime / time.Second))
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": at, "client_id": clientID, "expires_in": secs, "ext_expires_in": secs,
		"expires_on": fmt.Sprint(now.Add(lifetime).Unix()), "not_before": fmt.Sprint(now.Unix()),
		"resource": resource, "token_type": "Bearer",
	})
}
