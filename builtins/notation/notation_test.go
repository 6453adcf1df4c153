package notation

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
)

// fixture is what a case gets: the registry, the image to verify, and the
// certificate authorities of the test.
type fixture struct {
	host  string
	repo  *remote.Repository
	img   ocispec.Descriptor
	good  *pki // trusted, ECDSA, JWS by default
	rsa   *pki // trusted, RSA
	other *pki // not in any trust store
	// elsewhere is another image, for signatures that name it.
	elsewhere ocispec.Descriptor
}

func (f *fixture) subject() string { return f.host + "/team/app@" + f.img.Digest.String() }

// opts trusts good and rsa with a strict wildcard policy.
func (f *fixture) opts() map[string]any {
	return map[string]any{
		"trustPolicy": policy("default", []string{"*"}, "strict", []string{"ca:certs"},
			[]string{f.good.identity(), f.rsa.identity()}),
		"trustStores": map[string]any{"ca:certs": []any{kmpCert(f.good.CA, true), kmpCert(f.rsa.CA, true)}},
	}
}

type verifyCase struct {
	name  string
	sign  func(t *testing.T, f *fixture)
	opts  func(f *fixture) map[string]any
	check func(t *testing.T, f *fixture, r report.Report)
}

func wantSuccess(signer func(f *fixture) *pki) func(t *testing.T, f *fixture, r report.Report) {
	return func(t *testing.T, f *fixture, r report.Report) {
		t.Helper()
		if !r.IsSuccess || len(r.Signatures) != 1 || !r.Signatures[0].IsSuccess {
			t.Fatalf("want one verified signature, got %+v", r)
		}
		if want := signer(f).Leaf.Subject.String(); r.Signatures[0].Signer != want {
			t.Errorf("signer = %q, want %q", r.Signatures[0].Signer, want)
		}
		if r.Message != "1 of 1 notation signatures verified" {
			t.Errorf("message = %q", r.Message)
		}
	}
}

// wantFailure checks a one-signature failure whose error contains all of want.
func wantFailure(want ...string) func(t *testing.T, f *fixture, r report.Report) {
	return func(t *testing.T, f *fixture, r report.Report) {
		t.Helper()
		if r.IsSuccess || r.Transient || len(r.Signatures) != 1 || r.Signatures[0].IsSuccess {
			t.Fatalf("want one failed signature, got %+v", r)
		}
		s := r.Signatures[0]
		for _, w := range want {
			if !strings.Contains(s.Error, w) {
				t.Errorf("error %q does not contain %q", s.Error, w)
			}
		}
		if r.Message != s.Error {
			t.Errorf("message %q, want the signature's error %q", r.Message, s.Error)
		}
		if s.Signer != "" {
			t.Errorf("a failed signature has signer %q", s.Signer)
		}
	}
}

func signJWS(t *testing.T, f *fixture) { f.good.sign(t, f.repo, f.img, MediaTypeJWS) }

var verifyCases = []verifyCase{
	{
		name: "jws",
		sign: signJWS,
		check: func(t *testing.T, f *fixture, r report.Report) {
			wantSuccess(func(f *fixture) *pki { return f.good })(t, f, r)
			if r.Verifier != "notation" || r.Subject != f.subject() {
				t.Errorf("verifier %q subject %q, want notation %s", r.Verifier, r.Subject, f.subject())
			}
			s := r.Signatures[0]
			if s.ArtifactType != SignatureArtifactType || !strings.HasPrefix(s.Digest, "sha256:") {
				t.Errorf("signature %+v", s)
			}
			d := s.Details
			if d["trustPolicy"] != "default" || d["verificationLevel"] != "strict" || d["signatureMediaType"] != MediaTypeJWS {
				t.Errorf("details %v", d)
			}
			if _, err := time.Parse(time.RFC3339, d["signingTime"].(string)); err != nil {
				t.Errorf("signingTime: %v", err)
			}
		},
	},
	{
		name:  "cose",
		sign:  func(t *testing.T, f *fixture) { f.rsa.sign(t, f.repo, f.img, MediaTypeCOSE) },
		check: wantSuccess(func(f *fixture) *pki { return f.rsa }),
	},
	{
		name: "unsigned",
		check: func(t *testing.T, f *fixture, r report.Report) {
			if r.IsSuccess || r.Transient || len(r.Signatures) != 0 || r.Message != "no notation signatures found for "+f.subject() {
				t.Fatalf("got %+v", r)
			}
		},
	},
	{
		name:  "another CA",
		sign:  func(t *testing.T, f *fixture) { f.other.sign(t, f.repo, f.img, MediaTypeJWS) },
		check: wantFailure(`certificate "CN=intruder`, "is not trusted", "ca:certs"),
	},
	{
		name: "signature for another digest",
		sign: func(t *testing.T, f *fixture) {
			elsewhere := regtest.PushImage(t, f.repo, "")
			// Signed for elsewhere, pushed as a referrer of f.img.
			signWith(t, backdatedSigner{p: f.good, at: time.Now(), target: &elsewhere}, f.repo, f.img, MediaTypeJWS)
			f.elsewhere = elsewhere
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			want := "the signature is for " + f.elsewhere.Digest.String() + " not " + f.img.Digest.String()
			wantFailure(want)(t, f, r)
		},
	},
	{
		name: "identity not trusted",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policy("default", []string{"*"}, "strict", []string{"ca:certs"},
				[]string{"x509.subject: CN=someone else,O=Ratify Test,ST=WA,C=US"})
			return o
		},
		check: wantFailure(`certificate subject "CN=ratify-leaf,O=Ratify Test,L=Seattle,ST=WA,C=US" is not in trustedIdentities of trust policy "default"`),
	},
	{
		name: "expired certificate",
		sign: func(t *testing.T, f *fixture) {
			f.other = newPKI(t, sample.Options{CommonName: "expired", NotBefore: time.Now().Add(-3 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
			signWith(t, backdatedSigner{p: f.other, at: time.Now().Add(-2 * time.Hour)}, f.repo, f.img, MediaTypeJWS)
		},
		opts: func(f *fixture) map[string]any {
			return map[string]any{
				"trustPolicy": policy("default", []string{"*"}, "strict", []string{"ca:certs"}, []string{f.other.identity()}),
				"trustStores": map[string]any{"ca:certs": []any{pemOf(f.other.CA)}},
			}
		},
		check: wantFailure(`certificate "CN=expired`, "expired on"),
	},
	{
		name: "registry scope does not match",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policy("other", []string{f.host + "/other/repo"}, "strict", []string{"ca:certs"}, []string{"*"})
			return o
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			wantFailure("no trust policy applies to "+f.subject())(t, f, r)
		},
	},
	{
		name: "exact scope wins over wildcard",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = map[string]any{"version": "1.0", "trustPolicies": []any{
				policyStatement("wildcard", []string{"*"}, "skip", nil, nil),
				policyStatement("exact", []string{f.host + "/team/app"}, "strict", []string{"ca:certs"}, []string{f.good.identity()}),
			}}
			return o
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			wantSuccess(func(f *fixture) *pki { return f.good })(t, f, r)
			if r.Signatures[0].Details["trustPolicy"] != "exact" {
				t.Errorf("details %v", r.Signatures[0].Details)
			}
		},
	},
	{
		name: "audit logs an untrusted identity",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policy("audit", []string{"*"}, "audit", []string{"ca:certs"},
				[]string{"x509.subject: CN=someone else,O=Ratify Test,ST=WA,C=US"})
			return o
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			if !r.IsSuccess || len(r.Signatures) != 1 {
				t.Fatalf("got %+v", r)
			}
			d := r.Signatures[0].Details
			logged, _ := d["loggedFailures"].([]any)
			if d["verificationLevel"] != "audit" || len(logged) != 1 || logged[0].(map[string]any)["type"] != "authenticity" {
				t.Errorf("details %v", d)
			}
		},
	},
	{
		name: "skip level",
		sign: func(t *testing.T, f *fixture) { f.other.sign(t, f.repo, f.img, MediaTypeJWS) },
		opts: func(f *fixture) map[string]any {
			return map[string]any{"trustPolicy": policyStatement("skip", []string{"*"}, "skip", nil, nil)}
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			if !r.IsSuccess || r.Signatures[0].Details["skipped"] != true {
				t.Fatalf("got %+v", r)
			}
		},
	},
	{
		name: "one good one from another CA",
		sign: func(t *testing.T, f *fixture) {
			signJWS(t, f)
			f.other.sign(t, f.repo, f.img, MediaTypeCOSE)
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			if r.IsSuccess || len(r.Signatures) != 2 {
				t.Fatalf("got %+v", r)
			}
			var ok []report.Signature
			for _, s := range r.Signatures {
				if s.IsSuccess {
					ok = append(ok, s)
				} else if r.Message != s.Error || !strings.Contains(s.Error, "is not trusted") {
					t.Errorf("message %q, failed signature %+v", r.Message, s)
				}
			}
			if len(ok) != 1 || ok[0].Signer != f.good.Leaf.Subject.String() {
				t.Errorf("verified signatures %+v", ok)
			}
		},
	},
	{
		name: "signature requires a plugin",
		sign: func(t *testing.T, f *fixture) {
			signWith(t, backdatedSigner{p: f.good, at: time.Now(), plugin: "ratify-test-plugin"}, f.repo, f.img, MediaTypeCOSE)
		},
		check: wantFailure(`the signature requires the verification plugin "ratify-test-plugin"`),
	},
	{
		name: "tsa store requires a timestamp",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policy("default", []string{"*"}, "strict", []string{"ca:certs", "tsa:tsa-roots"}, []string{"*"})
			o["trustStores"].(map[string]any)["tsa:tsa-roots"] = []any{pemOf(f.rsa.CA)}
			return o
		},
		check: wantFailure("no timestamp countersignature was found"),
	},
	{
		name: "tsa store, timestamp only after expiry",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			p := policyStatement("default", []string{"*"}, "strict", []string{"ca:certs", "tsa:tsa-roots"}, []string{"*"})
			p["signatureVerification"] = map[string]any{"level": "strict", "verifyTimestamp": "afterCertExpiry"}
			o["trustPolicy"] = p
			o["trustStores"].(map[string]any)["tsa:tsa-roots"] = []any{pemOf(f.rsa.CA)}
			return o
		},
		check: wantSuccess(func(f *fixture) *pki { return f.good }),
	},
	{
		name: "single policy form",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policyStatement("single", []string{f.host + "/team/app"}, "strict", []string{"ca:certs"}, []string{f.good.identity()})
			return o
		},
		check: wantSuccess(func(f *fixture) *pki { return f.good }),
	},
	{
		name: "PEM strings, several blocks in one",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustStores"] = map[string]any{"ca:certs": []any{pemOf(f.rsa.CA) + pemOf(f.good.CA)}}
			return o
		},
		check: wantSuccess(func(f *fixture) *pki { return f.good }),
	},
	{
		name: "disabled certificate is not trusted",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustStores"] = map[string]any{"ca:certs": []any{kmpCert(f.good.CA, false)}}
			return o
		},
		check: wantFailure(`trust store "ca:certs" has no enabled certificates`),
	},
	{
		name: "trust store not defined",
		sign: signJWS,
		opts: func(f *fixture) map[string]any {
			o := f.opts()
			o["trustPolicy"] = policy("default", []string{"*"}, "strict", []string{"ca:missing"}, []string{"*"})
			o["warnings"] = []any{"from the engine"}
			return o
		},
		check: func(t *testing.T, f *fixture, r report.Report) {
			wantFailure(`trust store "ca:missing" is not defined in trustStores`)(t, f, r)
			if len(r.Warnings) != 2 || r.Warnings[0] != "from the engine" || !strings.Contains(r.Warnings[1], `"ca:missing"`) {
				t.Errorf("warnings %q", r.Warnings)
			}
		},
	},
}

func TestVerify(t *testing.T) {
	t.Parallel()
	good := newPKI(t, sample.Options{})
	rsaPKI := newPKI(t, sample.Options{Key: sample.RSA3072, CommonName: "ratify-rsa"})
	other := newPKI(t, sample.Options{CommonName: "intruder"})
	registries := []struct {
		name  string
		start func(t *testing.T) *regtest.Registry
	}{
		{"oci11", func(t *testing.T) *regtest.Registry { return regtest.StartOCI11(t, 0) }},
		{"distribution", func(t *testing.T) *regtest.Registry {
			return regtest.StartDistribution(t, regtest.DistributionOptions{})
		}},
	}
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			t.Parallel()
			r := reg.start(t)
			for _, tc := range verifyCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					f := &fixture{host: r.Host, repo: regtest.Repo(t, r.Host, "team/app", "", ""), good: good, rsa: rsaPKI, other: other}
					f.img = regtest.PushImage(t, f.repo, "")
					if tc.sign != nil {
						tc.sign(t, f)
					}
					opts := f.opts()
					if tc.opts != nil {
						opts = tc.opts(f)
					}
					rep := Verify(context.Background(), newStore(t), mustRef(t, f.subject()), opts)
					if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
						t.Logf("report: %s", b)
					}
					tc.check(t, f, rep)
					// Every report must survive the policy engine's JSON view.
					if v := rep.Value(); v["verifier"] != "notation" {
						t.Errorf("value %v", v)
					}
				})
			}
		})
	}
}

// A tag is resolved and the report names the digest verified.
func TestVerifyTagSubject(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	reg := regtest.StartOCI11(t, 0)
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "v1")
	p.sign(t, repo, img, MediaTypeJWS)
	r := Verify(context.Background(), newStore(t), mustRef(t, reg.Host+"/team/app:v1"), goodOpts(p))
	if !r.IsSuccess || r.Subject != reg.Host+"/team/app@"+img.Digest.String() {
		t.Fatalf("report %+v", r)
	}
}

// A signature whose envelope cannot be fetched because the registry fails
// fails, and the report is transient: retrying may verify it.
func TestVerifyTransientFetch(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	reg := regtest.StartOCI11(t, 0)
	proxy := regtest.StartProxy(t, reg.Host)
	repo := regtest.Repo(t, reg.Host, "team/app", "", "")
	img := regtest.PushImage(t, repo, "")
	p.sign(t, repo, img, MediaTypeJWS)
	proxy.Add(regtest.Fault{Match: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/") }, Status: http.StatusServiceUnavailable})
	r := Verify(context.Background(), newStore(t), mustRef(t, proxy.Host+"/team/app@"+img.Digest.String()), goodOpts(p))
	if r.IsSuccess || !r.Transient || len(r.Signatures) != 1 || !strings.HasPrefix(r.Signatures[0].Error, "cannot fetch the signature envelope: ") {
		t.Fatalf("report %+v", r)
	}
	proxy.Clear()
	if r := Verify(context.Background(), newStore(t), mustRef(t, proxy.Host+"/team/app@"+img.Digest.String()), goodOpts(p)); !r.IsSuccess {
		t.Fatalf("after the outage: %+v", r)
	}
}

// A store with nothing configured is an error report, not a panic.
func TestVerifyEmptyStore(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	r := Verify(context.Background(), &oras.Store{}, mustRef(t, "127.0.0.1:5000/team/app@sha256:"+strings.Repeat("c", 64)), goodOpts(p))
	if r.IsSuccess || r.Transient || !strings.Contains(r.Message, "no store serves the reference") {
		t.Fatalf("report %+v", r)
	}
}
