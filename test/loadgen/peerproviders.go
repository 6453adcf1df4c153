package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// provider is how to start one implementation of the external-data
// provider: both serve Gatekeeper's wire format over mutual TLS from the
// same certificate directory and client CA, with a decision cache of an
// hour, everything else at its defaults (log level info included).
type provider struct {
	name     string
	bin      string
	args     []string
	addrFlag string
	env      []string
	dir      string // where each start gets a fresh home and its log
	starts   int
	retried  atomic.Int64 // requests sent again after a transport error
	redone   []string     // phases run again after a failure, and why
}

// ratifyProvider is ratify serve with resources (a Store, inline KMPs, a
// notation and a cosign Verifier, as a cluster would have them), without
// its metrics and probe listeners (Ratify v1.4.4 out of a cluster has
// none), which also lets two run at once.
func ratifyProvider(bin, dir, resources string, f sample.TLSFiles) *provider {
	args := []string{"serve", "-c", resources,
		"--metrics-addr", "-", "--health-addr", "-", "--cert-dir", filepath.Dir(f.CertFile), "--ca-cert-file", f.CAFile, "--cache-ttl", "1h"}
	if p := os.Getenv("LOADGEN_PPROF"); p != "" {
		// To profile: one ratify process at a time (-log-level, so that no
		// second warm process logging at warn runs beside the first).
		args = append(args, "--pprof-addr", p)
	}
	return &provider{name: "ratify", bin: bin, addrFlag: "--addr", dir: dir, args: args}
}

// peerProvider is Ratify v1.4.4 out of a cluster: `ratify serve` with a
// config.json. Its verification cache is off unless --cache-enabled (the
// chart turns it on); --cache-ttl is its lifetime, 10s by default.
func peerProvider(bin, dir, config string, f sample.TLSFiles) *provider {
	return &provider{name: "Ratify v1.4.4", bin: bin, addrFlag: "--http", dir: dir, args: []string{"serve", "-c", config,
		"--cert-dir", filepath.Dir(f.CertFile), "--ca-cert-file", f.CAFile, "--cache-enabled", "--cache-ttl", "1h"}}
}

// running is a started provider and a client for it.
type running struct {
	*process
	client *http.Client
	url    string
}

// start runs p with a new, empty home: Ratify keeps the blobs it fetched
// in an on-disk cache under it (~/.ratify/local_oras_cache), which would
// make a later "cold" start warm.
func (p *provider) start(f sample.TLSFiles, conc int, env ...string) (*running, error) {
	p.starts++
	home := filepath.Join(p.dir, fmt.Sprintf("home-%d", p.starts))
	// Ratify's notation verifier also reads certificates from this
	// directory of its home, and logs a warning for every verification
	// when it is missing; it is there, empty, as in Ratify's image.
	if err := os.MkdirAll(filepath.Join(home, ".ratify", "ratify-certs", "notation", "truststore"), 0o700); err != nil {
		return nil, err
	}
	if err := cacheFile(p.bin); err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	proc, err := startProcess(p.bin, p.args, p.addrFlag, append(append([]string{"HOME=" + home}, p.env...), env...), filepath.Join(p.dir, fmt.Sprintf("serve-%d.log", p.starts)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	client, err := mtlsClient(f, conc)
	if err != nil {
		proc.stop()
		return nil, err
	}
	client.Transport = &retrying{next: client.Transport, n: &p.retried}
	return &running{process: proc, client: client, url: "https://" + proc.addr + "/ratify/gatekeeper/v1/verify"}, nil
}

// retrying sends a request once more when it failed without an HTTP
// answer (a reset connection) and counts it: the table says how often,
// rather than one such failure ending the run or going unseen. A provider
// that exited is not retried for: its error ends the run.
type retrying struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil || req.GetBody == nil || req.Context().Err() != nil {
		return resp, err
	}
	body, berr := req.GetBody()
	if berr != nil {
		return nil, err
	}
	again := req.Clone(req.Context())
	again.Body = body
	t.n.Add(1)
	return t.next.RoundTrip(again)
}

// ratifyResources trusts tr the way a cluster configures ratify: the
// certificate and the key in inline KMPs, a notation Verifier trusting the
// certificate's subject, a cosign trust policy with the key. The Store
// keeps referrer lists for the run, as the decision cache keeps verdicts.
func ratifyResources(tr trust) string {
	return sample.Resources(sample.Trust{CertificatePEM: tr.certPEM, Subject: tr.subject, KeyPEM: tr.keyPEM,
		StoreParameters: "referrersCacheTTL: 1h"})
}

// peerConfig is the same trust in Ratify v1.4.4's config.json: the
// certificate file as the notation verifier's verificationCerts (its
// ca:certs trust store), the same trusted identity, the key file in a
// cosign trust policy without transparency log (there is none here, and
// ratify's trust policy does not ask for it), the config policy.
func peerConfig(tr trust) ([]byte, error) {
	cfg := map[string]any{
		"store": map[string]any{"version": "1.0.0", "plugins": []any{
			map[string]any{"name": "oras", "cosignEnabled": true, "useHttp": true},
		}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{"name": "configPolicy"}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{
			map[string]any{
				"name":              "notation",
				"artifactTypes":     "application/vnd.cncf.notary.signature",
				"verificationCerts": []string{tr.certFile},
				"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
					"name":                  "default",
					"registryScopes":        []string{"*"},
					"signatureVerification": map[string]any{"level": "strict"},
					"trustStores":           []string{"ca:certs"},
					"trustedIdentities":     []string{"x509.subject: " + tr.subject},
				}}},
			},
			map[string]any{
				"name":          "cosign",
				"artifactTypes": "application/vnd.dev.cosign.artifact.sig.v1+json",
				"trustPolicies": []any{map[string]any{
					"name":       "default",
					"scopes":     []string{"*"},
					"keys":       []any{map[string]any{"file": tr.keyFile}},
					"tLogVerify": false,
				}},
			},
		}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// cacheFile reads the executable through, so that both providers start with
// their executable wholly in the page cache. The kernel maps the cached pages
// of a file around each page a process touches (fault-around, 64 KiB), so a
// process's file-backed resident set depends on how much of its executable
// the cache holds: a binary just built counts almost all it touches at
// start, one the cache has partly dropped less.
func cacheFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
