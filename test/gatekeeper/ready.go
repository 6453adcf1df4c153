package gatekeeper

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pollInterval is the pause between two checks: most run kubectl, which
// costs a two-core machine more than the wait.
const pollInterval = 500 * time.Millisecond

// poll runs check until it returns nil; it fails the test when timeout
// passes first or gatekeeper exits (skips it when the wrapper could not
// start gatekeeper here), with check's last error. The log's tail follows
// from stop.
func (g *Gatekeeper) poll(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := g.proc.exitedErr(); err != nil {
			if g.proc.wrapperFailed() {
				unavailable(t, "%s: %v:\n%s", what, err, g.proc.tail(logTailLines))
			}
			t.Fatalf("%s: %v", what, err)
		}
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitHealthy waits for gatekeeper's readiness endpoint: its webhook server
// answers TLS and its readiness tracker has seen what existed at start.
func (g *Gatekeeper) waitHealthy(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	g.poll(t, "gatekeeper's /readyz", func() error {
		resp, err := client.Get("http://" + g.healthAddr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%w: %s: %s", ErrNotReady, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
}

// waitWebhooks checks that the webhooks answer: Gatekeeper itself admits a
// ConfigMap on /v1/admit and /v1/mutate, and the API server calls it, which
// shows when Gatekeeper refuses a namespace that sets the ignore label.
// That webhook fails closed, so its denial proves the call was made
// whatever FailurePolicy is.
func (g *Gatekeeper) waitWebhooks(t testing.TB) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(g.certs.caCert)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	for _, path := range []string{"/v1/admit", "/v1/mutate"} {
		g.poll(t, "gatekeeper's "+path, func() error { return g.reviewConfigMap(client, path) })
	}

	probe := writeTemp(t, "probe-namespace.yaml", `apiVersion: v1
kind: Namespace
metadata:
  name: gatekeeper-probe
  labels:
    `+IgnoreLabel+`: probe
`)
	want := `admission webhook "check-ignore-label.gatekeeper.sh" denied the request`
	g.poll(t, "the API server calling gatekeeper", func() error {
		_, err := g.c.TryKubectl("create", "--dry-run=server", "-f", probe)
		if err == nil {
			return fmt.Errorf("%w: a namespace with %s was admitted", ErrNotReady, IgnoreLabel)
		}
		if !strings.Contains(err.Error(), want) {
			return err
		}
		return nil
	})
}

// reviewConfigMap sends an AdmissionReview of a ConfigMap's creation to
// path and wants it allowed.
func (g *Gatekeeper) reviewConfigMap(client *http.Client, path string) error {
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "00000000-0000-0000-0000-000000000001",
			"kind":      map[string]string{"group": "", "version": "v1", "kind": "ConfigMap"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "configmaps"},
			"name":      "gatekeeper-probe",
			"namespace": "default",
			"operation": "CREATE",
			"userInfo":  map[string]string{"username": "gatekeeper-probe"},
			"object": map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]string{"name": "gatekeeper-probe", "namespace": "default"},
			},
			"dryRun": true,
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var answer struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Status  struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("%s answered %s: %s", path, resp.Status, raw)
	}
	if !answer.Response.Allowed {
		return fmt.Errorf("%w: %s refused a ConfigMap: %s", ErrNotReady, path, answer.Response.Status.Message)
	}
	return nil
}
