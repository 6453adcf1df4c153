package oras

import (
	"io"
	"net/http"
)

// maxDrainBytes is how much of an error answer's body is read before it is
// closed. Go's HTTP client reuses a connection only when the body was read
// to its end; oras-go closes the bodies of 404s unread (a missing
// `sha256-<hex>` referrers tag or `.sig` tag, on every cold verification),
// so each cost a new connection (a TLS handshake, on a real registry). An
// error body is a short JSON document; a longer one is not worth reading.
const maxDrainBytes = 4 << 10

// drainTransport reads the rest of an error answer's body (at most
// maxDrainBytes) when it is closed, so the connection goes back to the
// pool. It sits above the budget's transport: what it reads is charged.
type drainTransport struct {
	next http.RoundTripper
}

func (t drainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode >= 400 && resp.ContentLength <= maxDrainBytes {
		resp.Body = drainingBody{resp.Body}
	}
	return resp, err
}

type drainingBody struct {
	io.ReadCloser
}

func (b drainingBody) Close() error {
	_, _ = io.CopyN(io.Discard, b.ReadCloser, maxDrainBytes)
	return b.ReadCloser.Close()
}
