package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
	"github.com/seed-12b584bc/ratify/engine"
)

// Wire constants of Gatekeeper's external data.
const (
	apiVersion   = "externaldata.gatekeeper.sh/v1beta1"
	apiVersionV1 = "externaldata.gatekeeper.sh/v1alpha1"
	kindRequest  = "ProviderRequest"
	kindResponse = "ProviderResponse"
)

// Value is an item's value for verification, as in Ratify.
type Value struct {
	IsSuccess       bool            `json:"isSuccess"`
	VerifierReports []report.Report `json:"verifierReports"`
	TraceID         string          `json:"traceID"`
	Timestamp       time.Time       `json:"timestamp"`
	Version         string          `json:"version"`
}

func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.verifyDuration.Observe(ms(time.Since(start))) }()
	s.serve(w, r, "verify", s.opts.VerifyTimeout, s.verifyKey)
}

func (s *Server) serveMutate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.mutateDuration.Observe(ms(time.Since(start))) }()
	s.serve(w, r, "mutate", s.opts.MutateTimeout, s.mutateKey)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// keyFunc answers one key: a value, or an item error.
type keyFunc func(ctx context.Context, eng *engine.Engine, namespace, image string) (any, error)

// serve decodes the request, answers every key concurrently under the
// deadline, and always writes the response before the deadline: a key not
// decided in time gets an item error, never silence and never a pass.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, endpoint string, timeout time.Duration, answer keyFunc) {
	deadline := time.Now().Add(timeout)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.refuse(w, endpoint, "method_not_allowed", http.StatusMethodNotAllowed, fmt.Sprintf("%s: use POST", r.Method))
		return
	}
	keys, status, err := s.decode(r, w)
	if err != nil {
		outcome := map[int]string{http.StatusRequestEntityTooLarge: "too_large", http.StatusUnprocessableEntity: "too_many_keys"}[status]
		if outcome == "" {
			outcome = "bad_request"
		}
		s.refuse(w, endpoint, outcome, status, err.Error())
		return
	}
	eng := s.engine.Load()
	if eng == nil {
		s.refuse(w, endpoint, "not_ready", http.StatusServiceUnavailable, "ratify has no configuration loaded yet")
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()

	// Duplicate keys are answered once.
	unique := make([]string, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			unique = append(unique, k)
		}
	}
	type result struct {
		key   string
		value any
		err   error
	}
	results := make(chan result, len(unique))
	answered := make(map[string]result, len(unique))
	for _, key := range unique {
		// Keys decided recently are answered here, without a goroutine.
		if endpoint == "verify" {
			if answer, ok := s.cached(eng, key); ok {
				answered[key] = result{key, answer, nil}
				continue
			}
		}
		go func() {
			v, err := s.answer(ctx, eng, key, answer)
			results <- result{key, v, err}
		}()
	}
collect:
	for len(answered) < len(unique) {
		select {
		case res := <-results:
			answered[res.key] = res
		case <-ctx.Done():
			break collect
		}
	}
	items := make([]externaldata.Item, 0, len(keys))
	for _, key := range unique {
		res, ok := answered[key]
		item := externaldata.Item{Key: key}
		switch {
		case !ok:
			item.Error = fmt.Sprintf("%s: not decided within %s; denying until it can be", key, timeout)
		case res.err != nil:
			item.Error = fmt.Sprintf("%s: %v", key, res.err)
		default:
			item.Value = res.value
		}
		items = append(items, item)
	}
	s.metrics.requests.WithLabelValues(endpoint, "ok").Inc()
	s.writeItems(w, items)
}

// buffer returns a recycled buffer: a warm request is otherwise mostly
// allocation, and allocation is what drives GC pauses into the latency tail.
func (s *Server) buffer() *bytes.Buffer {
	if b, ok := s.buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// writeItems writes a ProviderResponse with items. Item values that are
// already encoded (cached decisions) are copied as they are: encoding/json
// would re-validate and compact every cached byte on every request.
func (s *Server) writeItems(w http.ResponseWriter, items []externaldata.Item) {
	buf := s.buffer()
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep a huge buffer alive
			buf.Reset()
			s.buffers.Put(buf)
		}
	}()
	buf.WriteString(`{"apiVersion":"` + apiVersion + `","kind":"` + kindResponse + `","response":{"idempotent":true,"items":[`)
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, _ := json.Marshal(it.Key)
		buf.WriteString(`{"key":`)
		buf.Write(key)
		if it.Error != "" {
			msg, _ := json.Marshal(it.Error)
			buf.WriteString(`,"error":`)
			buf.Write(msg)
		} else {
			buf.WriteString(`,"value":`)
			if raw, ok := it.Value.(json.RawMessage); ok {
				buf.Write(raw)
			} else {
				v, _ := json.Marshal(it.Value)
				buf.Write(v)
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// answer runs one key on the worker pool; a panic is that key's error.
func (s *Server) answer(ctx context.Context, eng *engine.Engine, key string, answer keyFunc) (v any, err error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, errors.New("not started before the deadline: ratify is overloaded")
	}
	defer func() {
		if p := recover(); p != nil {
			s.metrics.systemErrors.Inc()
			s.log.Error("panic answering key", "key", key, "panic", p)
			v, err = nil, errors.New("internal error")
		}
	}()
	namespace, image := splitKey(key)
	return answer(ctx, eng, namespace, image)
}

// splitKey separates Ratify's multi-tenancy prefix: `[namespace]image`.
func splitKey(key string) (namespace, image string) {
	if strings.HasPrefix(key, "[") {
		if i := strings.Index(key, "]"); i > 0 {
			return key[1:i], key[i+1:]
		}
	}
	return "", key
}

// cached answers a verification key from the caches alone: its tag (or
// digest) resolved recently and its decision still cached.
func (s *Server) cached(eng *engine.Engine, key string) (json.RawMessage, bool) {
	namespace, image := splitKey(key)
	ref, err := oras.ParseReference(image)
	if err != nil {
		return nil, false
	}
	desc, ok := eng.Store().ResolveCached(ref)
	if !ok {
		return nil, false
	}
	v, ok := s.decisions.Get(decisionKey(eng, namespace, desc.Digest.String()))
	if ok {
		s.metrics.cache.WithLabelValues("true").Inc()
	}
	return v, ok
}

// decisionKey names a decision in the cache: configuration revision,
// policy scope, digest.
func decisionKey(eng *engine.Engine, namespace, digest string) string {
	return eng.Revision() + "|" + eng.CacheScope(namespace) + "|" + digest
}

// verifyKey decides one image: from the decision cache when the same
// digest was decided for the same policy revision and scope, else by
// evaluating (concurrent requests for one subject share one evaluation).
func (s *Server) verifyKey(ctx context.Context, eng *engine.Engine, namespace, image string) (any, error) {
	ref, err := oras.ParseReference(image)
	if err != nil {
		return nil, err
	}
	desc, err := eng.Store().Resolve(ctx, ref)
	if err != nil {
		if transientKey(err) || ctx.Err() != nil {
			return nil, err
		}
		// A missing image is a verdict, not an outage.
		return failedValue(ref.String(), err.Error()), nil
	}
	cacheKey := decisionKey(eng, namespace, desc.Digest.String())
	if v, ok := s.decisions.Get(cacheKey); ok {
		s.metrics.cache.WithLabelValues("true").Inc()
		return v, nil
	}
	s.metrics.cache.WithLabelValues("false").Inc()
	ch := s.flight.DoChan(cacheKey, func() (any, error) {
		d := eng.Evaluate(ctx, ref.WithDigest(desc.Digest).String(), namespace)
		// One line per evaluated decision (cached answers are not logged).
		s.log.LogAttrs(ctx, slog.LevelInfo, "decision", slog.String("traceID", d.TraceID), slog.String("subject", image),
			slog.String("reference", d.Reference), slog.String("namespace", namespace), slog.Bool("allow", d.Allow),
			slog.Any("reasons", d.Reasons), slog.String("policy", d.Policy))
		if d.Transient && !d.Allow {
			return nil, fmt.Errorf("cannot verify now (trace %s): %s", d.TraceID, strings.Join(d.Reasons, "; "))
		}
		// The value is encoded once: a cached decision is answered with
		// the same bytes (same trace ID) until it expires.
		v, err := json.Marshal(toValue(d))
		if err != nil {
			return nil, err
		}
		if !d.Transient {
			s.decisions.Add(cacheKey, v, int64(len(v)))
		}
		return json.RawMessage(v), nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mutateKey answers the digest the verification resolves for the image,
// keeping the image's name as written: `app:v1` becomes `app@sha256:...`.
func (s *Server) mutateKey(ctx context.Context, eng *engine.Engine, _ string, image string) (any, error) {
	ref, err := oras.ParseReference(image)
	if err != nil {
		return nil, err
	}
	if ref.Digest != "" {
		return image, nil
	}
	desc, err := eng.Store().Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	name := image
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name + "@" + desc.Digest.String(), nil
}

// toValue is the item value of a decision. The decision's reasons travel
// as a report of the policy, so the constraint template can name them.
func toValue(d engine.Decision) Value {
	reports := append([]report.Report{}, d.Reports...)
	if !d.Allow {
		reports = append(reports, report.Report{Verifier: "policy", Subject: d.Reference, Message: strings.Join(d.Reasons, "; "), Signatures: []report.Signature{}})
	}
	return Value{IsSuccess: d.Allow, VerifierReports: reports, TraceID: d.TraceID, Timestamp: d.Time, Version: Version}
}

func failedValue(subject, reason string) Value {
	return Value{VerifierReports: []report.Report{report.Failure("policy", subject, reason)}, Timestamp: time.Now().UTC(), Version: Version}
}

// decode reads and checks a ProviderRequest.
func (s *Server) decode(r *http.Request, w http.ResponseWriter) ([]string, int, error) {
	buf := s.buffer()
	defer func() {
		if buf.Cap() <= 2<<20 {
			buf.Reset()
			s.buffers.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", s.opts.MaxBodyBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err)
	}
	return Decode(body, s.opts.MaxKeys)
}

// Decode parses and checks a ProviderRequest body: the keys, or the HTTP
// status and reason to refuse it with.
func Decode(body []byte, maxKeys int) ([]string, int, error) {
	var req externaldata.ProviderRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("malformed ProviderRequest: %v", err)
	}
	return validate(&req, maxKeys)
}

// validate checks the decoded request's type and keys.
func validate(req *externaldata.ProviderRequest, maxKeys int) ([]string, int, error) {
	if req.APIVersion != apiVersion && req.APIVersion != apiVersionV1 {
		return nil, http.StatusBadRequest, fmt.Errorf("apiVersion %q: want %s", req.APIVersion, apiVersion)
	}
	if string(req.Kind) != kindRequest {
		return nil, http.StatusBadRequest, fmt.Errorf("kind %q: want %s", req.Kind, kindRequest)
	}
	if len(req.Request.Keys) > maxKeys {
		return nil, http.StatusUnprocessableEntity, fmt.Errorf("%d keys: at most %d per request", len(req.Request.Keys), maxKeys)
	}
	return req.Request.Keys, http.StatusOK, nil
}

func (s *Server) refuse(w http.ResponseWriter, endpoint, outcome string, status int, reason string) {
	s.metrics.requests.WithLabelValues(endpoint, outcome).Inc()
	s.log.Warn("request refused", "endpoint", endpoint, "status", status, "reason", reason)
	s.write(w, status, externaldata.Response{SystemError: reason})
}

func (s *Server) write(w http.ResponseWriter, status int, resp externaldata.Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(externaldata.ProviderResponse{APIVersion: apiVersion, Kind: kindResponse, Response: resp})
}
