package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/internal/sample"
)

func goodOpts(p *pki) map[string]any {
	return map[string]any{
		"trustPolicy": policy("default", []string{"*"}, "strict", []string{"ca:certs"}, []string{p.identity()}),
		"trustStores": map[string]any{"ca:certs": []any{kmpCert(p.CA, true)}},
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	junkCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	key := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("k")}))
	with := func(k string, v any) map[string]any {
		o := goodOpts(p)
		o[k] = v
		return o
	}
	stores := func(v any) map[string]any { return with("trustStores", map[string]any{"ca:certs": v}) }
	cases := []struct {
		name    string
		opts    map[string]any
		wantErr string // empty: must parse
	}{
		{"document", goodOpts(p), ""},
		{"single policy", with("trustPolicy", policyStatement("one", []string{"*"}, "permissive", []string{"ca:certs"}, []string{"*"})), ""},
		{"policy as JSON text", with("trustPolicy", `{"version":"1.0","trustPolicies":[{"name":"t","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`), ""},
		{"override", with("trustPolicy", map[string]any{"name": "o", "registryScopes": []string{"*"}, "trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			"signatureVerification": map[string]any{"level": "strict", "override": map[string]any{"revocation": "log"}}}), ""},
		{"one PEM string, not a list", stores(pemOf(p.CA)), ""},
		{"missing policy", map[string]any{"trustStores": map[string]any{}}, "trustPolicy: missing"},
		{"policy not an object", with("trustPolicy", []any{}), "trustPolicy: want an object, got a list"},
		{"unknown level", with("trustPolicy", policy("x", []string{"*"}, "bogus", []string{"ca:certs"}, []string{"*"})), `invalid signature verification level "bogus"`},
		{"no version", with("trustPolicy", map[string]any{"trustPolicies": []any{}}), "trust policy document has empty version"},
		{"duplicate names", with("trustPolicy", map[string]any{"version": "1.0", "trustPolicies": []any{
			policyStatement("d", []string{"127.0.0.1:5000/x"}, "strict", []string{"ca:certs"}, []string{"*"}),
			policyStatement("d", []string{"127.0.0.1:5000/y"}, "strict", []string{"ca:certs"}, []string{"*"})}}), `multiple trust policy statements use the same name "d"`},
		{"bad scope", with("trustPolicy", policy("s", []string{"no-slash"}, "strict", []string{"ca:certs"}, []string{"*"})), `registry scope "no-slash" is not valid`},
		{"bad identity", with("trustPolicy", policy("i", []string{"*"}, "strict", []string{"ca:certs"}, []string{"x509.subject: CN=only"})), "mandatory RDN attribute"},
		{"scopes not a list", with("trustPolicy", map[string]any{"name": "n", "registryScopes": "*"}), "does not have the shape of a trust policy document"},
		{"not PEM", stores([]any{"hello"}), `trustStores: store "ca:certs", certificate 0: not PEM: no -----BEGIN CERTIFICATE----- block found`},
		{"bad DER", stores([]any{junkCert}), `store "ca:certs", certificate 0: PEM block 1 is not a valid X.509 certificate`},
		{"not a certificate block", stores([]any{pemOf(p.CA) + key}), `PEM block 2 is a "PRIVATE KEY", want CERTIFICATE`},
		{"trailing junk", stores([]any{pemOf(p.CA) + "junk"}), "unparsable text after PEM block 1"},
		{"bad PEM in kmp object", stores([]any{map[string]any{"name": "ca", "version": "2", "enabled": true, "pem": "x"}}), `certificate (ca@2): not PEM`},
		{"kmp object without pem", stores([]any{map[string]any{"name": "ca"}}), "has no pem string"},
		{"certificate a number", stores([]any{1}), "want a PEM string or an object with a pem field, got a number"},
		{"store key without type", with("trustStores", map[string]any{"certs": []any{}}), `store "certs": the key must be "<type>:<name>"`},
		{"store key unknown type", with("trustStores", map[string]any{"x509:certs": []any{}}), `store "x509:certs"`},
		{"trustStores a list", with("trustStores", []any{}), "trustStores: want an object"},
		{"warnings not strings", with("warnings", []any{1}), "warnings: entry 0: want a string"},
		{"not JSON-like", with("x", make(chan int)), "not JSON-like"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := ParseOptions(tc.opts)
			if tc.wantErr == "" {
				if err != nil || o.TrustPolicy == nil {
					t.Fatalf("ParseOptions: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			// Verify reports the same problem instead of failing; no store is
			// needed because options are checked first.
			r := Verify(context.Background(), nil, mustRef(t, "127.0.0.1:5000/team/app@sha256:"+strings.Repeat("a", 64)), tc.opts)
			if r.IsSuccess || r.Transient || !strings.Contains(r.Message, tc.wantErr) || !strings.HasPrefix(r.Message, "invalid notation options: ") {
				t.Fatalf("report %+v", r)
			}
		})
	}
}

func TestParseOptionsWarnings(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	o := goodOpts(p)
	o["warnings"] = []any{"engine smell"}
	o["extra"] = true
	pol := policyStatement("w", []string{"*"}, "strict", []string{"ca:certs", "ca:absent"}, []string{"*"})
	pol["trustedIdentites"] = []any{"typo"}
	o["trustPolicy"] = pol
	got, err := ParseOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"engine smell", `notation options: unknown field "extra"`, `trust policy "w": unknown field "trustedIdentites"`, `names trust store "ca:absent"`}
	if len(got.Warnings) != len(want) {
		t.Fatalf("warnings %q", got.Warnings)
	}
	for i, w := range want {
		if !strings.Contains(got.Warnings[i], w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got.Warnings[i], w)
		}
	}
}

func TestTrustStore(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	ctx := context.Background()
	ts := TrustStore{"ca:certs": {p.CA}, "ca:leaf": {p.Leaf}, "tsa:roots": {p.CA}, "ca:empty": nil}
	if got, err := ts.GetCertificates(ctx, truststore.TypeCA, "certs"); err != nil || len(got) != 1 {
		t.Fatalf("ca:certs: %v %v", got, err)
	}
	for _, tc := range []struct {
		typ  truststore.Type
		name string
		want string
	}{
		{truststore.TypeCA, "nope", `trust store "ca:nope" is not defined in trustStores`},
		{truststore.TypeSigningAuthority, "certs", `trust store "signingAuthority:certs" is not defined`},
		{truststore.TypeCA, "empty", `trust store "ca:empty" has no enabled certificates`},
		// notation-go's rule for its file stores: CA or self-signed only.
		{truststore.TypeCA, "leaf", "is not a CA certificate or self-signed signing certificate"},
	} {
		if _, err := ts.GetCertificates(ctx, tc.typ, tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:%s: error %v, want %q", tc.typ, tc.name, err, tc.want)
		}
	}
	if _, err := ts.GetCertificates(ctx, truststore.TypeTSA, "roots"); err != nil {
		t.Errorf("tsa root: %v", err)
	}
	ts["tsa:notroot"] = []*x509.Certificate{p.Leaf}
	if _, err := ts.GetCertificates(ctx, truststore.TypeTSA, "notroot"); err == nil {
		t.Error("a leaf in a tsa store was accepted")
	}
}

// A registry that does not answer is an outage: the report says so and is
// marked transient so the verdict is not cached.
func TestUnreachableRegistry(t *testing.T) {
	t.Parallel()
	p := newPKI(t, sample.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := Verify(ctx, newStore(t), mustRef(t, host+"/team/app@sha256:"+strings.Repeat("b", 64)), goodOpts(p))
	if r.IsSuccess || !r.Transient || !strings.HasPrefix(r.Message, "cannot resolve the subject: ") || len(r.Signatures) != 0 {
		t.Fatalf("report %+v", r)
	}
}

func FuzzParseOptions(f *testing.F) {
	p := newPKI(f, sample.Options{})
	seed, _ := json.Marshal(goodOpts(p))
	f.Add(seed)
	f.Add([]byte(`{"trustPolicy":{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"audit","override":{"integrity":"log"}},"trustStores":["tsa:x"],"trustedIdentities":["*"]},"trustStores":{"tsa:x":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}`))
	f.Add([]byte(`{"trustPolicy":"{\"version\":\"1.0\"}","trustStores":{"ca:a":[{"enabled":false}]},"warnings":["w"]}`))
	f.Add([]byte(`{"trustPolicy":{"version":"1.0","trustPolicies":[null,{}]},"trustStores":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var opts map[string]any
		if dec.Decode(&opts) != nil {
			return
		}
		o, err := ParseOptions(opts)
		if err != nil {
			return
		}
		if o.TrustPolicy == nil || o.TrustStores == nil {
			t.Fatalf("parsed options without a policy or stores: %+v", o)
		}
		// What ParseOptions accepts, notation-go must accept too.
		if _, err := newVerifier(o); err != nil {
			t.Fatalf("accepted options rejected by notation-go: %v", err)
		}
		for key := range o.TrustStores {
			typ, name, _ := strings.Cut(key, ":")
			_, _ = o.TrustStores.GetCertificates(context.Background(), truststore.Type(typ), name)
		}
	})
}

// registryScopes are matched in the canonical spelling of references, so
// the host's spelling in the trust policy or in the image does not decide
// which policy applies.
func TestRegistryScopesNormalised(t *testing.T) {
	t.Parallel()
	const d = "@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	cases := []struct {
		scope, image string
		want         bool
	}{
		{"LOCALHOST:5000/team-a/app", "localhost:5000/team-a/app", true},
		{"localhost:5000/team-a/app", "LocalHost:5000/team-a/app", true},
		{"Registry.Example.com:443/app", "registry.example.com/app", true},
		{"registry.example.com/app", "registry.example.com:443/app", true},
		{"index.docker.io/library/nginx", "nginx", true},
		{"docker.io/nginx", "registry-1.docker.io/library/nginx", true},
		{"registry-1.docker.io/user/app", "docker.io/user/app", true},
		{"registry.example.com:5000/app", "registry.example.com/app", false},
		{"registry.example.com/app", "registry.example.com/app2", false},
	}
	for _, c := range cases {
		doc := map[string]any{"version": "1.0", "trustPolicies": []any{
			policyStatement("specific", []string{c.scope}, "strict", []string{"ca:certs"}, []string{"*"}),
			policyStatement("fallback", []string{"*"}, "strict", []string{"ca:certs"}, []string{"*"}),
		}}
		o, err := ParseOptions(map[string]any{"trustPolicy": doc, "trustStores": map[string]any{}})
		if err != nil {
			t.Fatalf("%s: %v", c.scope, err)
		}
		subject := mustRef(t, c.image+d)
		p, err := o.TrustPolicy.GetApplicableTrustPolicy(subject.String())
		if err != nil {
			t.Fatalf("%s: %v", c.scope, err)
		}
		if got := p.Name == "specific"; got != c.want {
			t.Errorf("registryScopes [%q], image %q (%s): policy %q applies, want the scope to match: %v", c.scope, c.image, subject, p.Name, c.want)
		}
		if got := oras.ScopeMatches(c.scope, subject.Name()); got != c.want {
			t.Errorf("oras.ScopeMatches(%q, %q) = %v, notation disagrees", c.scope, subject.Name(), got)
		}
	}
	// Two spellings of one scope are one scope, which notation-go refuses
	// in two statements.
	doc := map[string]any{"version": "1.0", "trustPolicies": []any{
		policyStatement("a", []string{"Registry.Example.com/app"}, "strict", []string{"ca:certs"}, []string{"*"}),
		policyStatement("b", []string{"registry.example.com:443/app"}, "strict", []string{"ca:certs"}, []string{"*"}),
	}}
	if _, err := ParseOptions(map[string]any{"trustPolicy": doc}); err == nil || !strings.Contains(err.Error(), "registry.example.com/app") {
		t.Errorf("one scope in two statements: %v", err)
	}
}
