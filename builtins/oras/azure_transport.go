package oras

import (
	"io"
	"net/http"
)

// wrap is the store's client transport seen by the provider: a registry's
// token endpoint that refuses (401) the ACR refresh token this provider
// gave drops it, and the token request is sent once more with a new one.
// A refresh token can be refused before its time: revoked, or its
// identity's role assignment changed; without this, the store would keep
// presenting it until it expires.
//
// oras-go sends the refresh token to the endpoint of the registry's
// challenge as Basic credentials of ACR's user name; ACR's token endpoint
// is on the registry host itself, which is the cache key.
func (b *boundAzure) wrap(next http.RoundTripper) http.RoundTripper {
	return refusalTransport{next: next, b: b}
}

type refusalTransport struct {
	next http.RoundTripper
	b    *boundAzure
}

func (t refusalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	user, refused, ok := req.BasicAuth()
	if !ok || user != acrUsername || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	host := normalizeHost(req.URL.Host)
	t.b.refresh.evict(host, refused)
	fresh, ferr := t.b.refresh.get(req.Context(), host)
	if ferr != nil || fresh == refused {
		// The refusal is the answer; the exchange's own failure is in the log.
		if ferr != nil {
			t.b.env.Logger.Warn("a registry refused the ACR refresh token, and no new one was issued",
				"authProvider", t.b.p.name, "registry", host, "error", ferr)
		}
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxExchangeAnswer))
	resp.Body.Close()
	retry := req.Clone(req.Context())
	retry.SetBasicAuth(acrUsername, fresh)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.next.RoundTrip(retry)
}
