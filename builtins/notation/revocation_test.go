package notation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// TestRevocationTimeoutIsTransient: a leaf whose OCSP responder does not
// answer has an unknown revocation status, which a strict trust policy
// refuses. That is an outage, not a verdict: the report is transient, so
// the decision is an error Gatekeeper retries rather than a denial cached
// for the image.
func TestRevocationTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-r.Context().Done() // never answers; notation's OCSP client times out
	}))
	defer hang.Close()

	ocspPKI := newPKI(t, sample.Options{CommonName: "ratify-ocsp", OCSPServer: []string{hang.URL}})

	reg := regtest.StartOCI11(t, 0)
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "")
	ocspPKI.sign(t, repo, img, MediaTypeJWS)
	r := Verify(context.Background(), newStore(t), mustRef(t, reg.Host+"/team/app@"+img.Digest.String()), goodOpts(ocspPKI))
	if asked.Load() == 0 {
		t.Fatal("the OCSP responder was never asked: the test does not exercise revocation")
	}
	if r.IsSuccess {
		t.Fatalf("verified with an unknown revocation status under a strict policy: %+v", r)
	}
	if !r.Transient || !strings.Contains(r.Message, "revocation status is unknown") {
		t.Fatalf("an unanswered OCSP request must be a transient failure: %+v", r)
	}
}
