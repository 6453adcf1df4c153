package notation

import (
	"context"
	"crypto/x509"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/regtest"
)

// TestRevocationTimeoutIsTransient: a leaf whose OCSP responder does not
// answer has an unknown revocation status, which a strict trust policy
// refuses. That is an outage, not a verdict: the report is transient, so
// the decision is an error Gatekeeper retries rather than a denial cached
// for the image.
func TestRevocationTimeoutIsTransient(t *testing.T) {
	var asked atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-r.Context().Done() // never answers; notation's OCSP client times out
	}))
	defer hang.Close()

	caKey := newKey(t, false)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: leafName("ratify test CA with OCSP"),
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	ca := createCert(t, caTmpl, caTmpl, caKey.Public(), caKey)
	leafKey := newKey(t, false)
	leafTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano() + 7),
		Subject:               leafName("ratify-ocsp"),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		OCSPServer:            []string{hang.URL},
	}
	ocspPKI := &pki{ca: ca, leaf: createCert(t, leafTmpl, ca, leafKey.Public(), caKey), leafKey: leafKey}

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
