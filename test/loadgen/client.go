package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

func mtlsClient(f sample.TLSFiles, conc int) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: conc,
	}}, nil
}

func batches(refs []string, n int) [][]string {
	var out [][]string
	for i := 0; i < len(refs); i += n {
		out = append(out, refs[i:min(i+n, len(refs))])
	}
	return out
}

// load sends the batches with conc requests in flight and returns each
// request's latency.
func load(client *http.Client, url string, bs [][]string, conc int) ([]time.Duration, error) {
	lat := make([]time.Duration, len(bs))
	err := parallel(len(bs), conc, func(i int) error {
		start := time.Now()
		if _, err := verify(client, url, bs[i]); err != nil {
			return err
		}
		lat[i] = time.Since(start)
		return nil
	})
	return lat, err
}

// loadWarm is load for keys whose verdicts are cached, with the load
// generator's own work kept small, since on a small machine it shares the
// cores with the provider it measures: each request's body is encoded once,
// and one answer in checkEvery is decoded and checked key by key (every
// answer must still be 200 and read to its end; every image's verdict is
// checked in full before any warm run).
func loadWarm(client *http.Client, url string, bs [][]string, conc, checkEvery int) ([]time.Duration, error) {
	type batch struct { // batches that cycle share their backing arrays
		first *string
		n     int
	}
	bodies := make(map[batch][]byte)
	enc := make([][]byte, len(bs))
	for i, b := range bs {
		if len(b) == 0 {
			continue
		}
		k := batch{&b[0], len(b)}
		if enc[i] = bodies[k]; enc[i] == nil {
			enc[i] = requestBody(b)
			bodies[k] = enc[i]
		}
	}
	lat := make([]time.Duration, len(bs))
	err := parallel(len(bs), conc, func(i int) error {
		start := time.Now()
		var err error
		if i%checkEvery == 0 {
			_, err = verifyBody(client, url, bs[i], enc[i])
		} else {
			err = send(client, url, enc[i])
		}
		if err != nil {
			return err
		}
		lat[i] = time.Since(start)
		return nil
	})
	return lat, err
}

// send posts body and reads the answer through, which must be a 200.
func send(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// verify sends one request and checks every key was admitted.
func verify(client *http.Client, url string, keys []string) (int, error) {
	return verifyBody(client, url, keys, requestBody(keys))
}

// verifyBody is verify with the request's body already encoded.
func verifyBody(client *http.Client, url string, keys []string, body []byte) (int, error) {
	items, err := postBody(client, url, keys, body)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		if !it.allowed() {
			return 0, &deniedError{it: it}
		}
	}
	return len(items), nil
}

// deniedError is a key that verify expected to be admitted.
type deniedError struct{ it item }

func (e *deniedError) Error() string {
	return fmt.Sprintf("%s not admitted: %s", e.it.Key, e.it.reason())
}

// item is one key's answer, as Gatekeeper reads it: allowed when it has no
// error and isSuccess.
type item struct {
	Key   string `json:"key"`
	Value struct {
		IsSuccess       bool `json:"isSuccess"`
		VerifierReports []struct {
			Message string `json:"message"`
		} `json:"verifierReports"`
	} `json:"value"`
	Error string `json:"error"`
}

func (it item) allowed() bool { return it.Error == "" && it.Value.IsSuccess }

// reason is what the answer says, for a verdict that was not expected.
func (it item) reason() string {
	if it.Error != "" {
		return it.Error
	}
	var msgs []string
	for _, r := range it.Value.VerifierReports {
		msgs = append(msgs, r.Message)
	}
	return fmt.Sprintf("isSuccess %t: %s", it.Value.IsSuccess, strings.Join(msgs, "; "))
}

// post sends one ProviderRequest and returns an item for every distinct key.
func post(client *http.Client, url string, keys []string) ([]item, error) {
	return postBody(client, url, keys, requestBody(keys))
}

// requestBody is the ProviderRequest for keys.
func requestBody(keys []string) []byte {
	body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": keys}})
	return body
}

func postBody(client *http.Client, url string, keys []string, body []byte) ([]item, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var pr struct {
		Response struct {
			Items []item `json:"items"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return nil, err
	}
	if len(pr.Response.Items) != len(uniq(keys)) {
		return nil, errors.New("missing items")
	}
	return pr.Response.Items, nil
}

func uniq(keys []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
