package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"

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
type keyFunc func(ctx context.Context, eng *engine.Engine, req *engine.Request) (any, error)

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
	slots := uniqueKeys(keys)
	pending := 0
	for i := range slots {
		sl := &slots[i]
		sl.req = eng.Prepare(s.splitKey(sl.key))
		// Keys decided recently are answered here: a lookup and the
		// verdict's encoded bytes, no goroutine, no allocation.
		if endpoint == "verify" {
			if v, ok := eng.Cached(&sl.req); ok {
				sl.set(v)
				continue
			}
		}
		pending++
	}
	if pending > 0 {
		s.answerAll(r.Context(), deadline, eng, slots, pending, answer)
	}
	for i := range slots {
		if sl := &slots[i]; !sl.done {
			sl.err = fmt.Errorf("not decided within %s; denying until it can be", timeout)
		}
	}
	s.metrics.requests.WithLabelValues(endpoint, "ok").Inc()
	s.writeItems(w, slots)
}

// slot is one distinct key of a request and its answer.
type slot struct {
	key  string
	req  engine.Request
	done bool
	raw  []byte // an encoded value (a cached verdict), else value
	val  any
	err  error
}

func (sl *slot) set(v *engine.Verdict) {
	sl.done = true
	if v.Value != nil {
		sl.raw = v.Value
	} else {
		sl.val = toValue(*v.Decision)
	}
}

// uniqueKeys is one slot per distinct key, in request order: duplicate
// keys are answered once. Requests are mostly a pod's few images, where a
// scan beats building a map.
func uniqueKeys(keys []string) []slot {
	slots := make([]slot, 0, len(keys))
	var seen map[string]struct{}
	if len(keys) > 16 {
		seen = make(map[string]struct{}, len(keys))
	}
next:
	for _, k := range keys {
		if seen != nil {
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		} else {
			for i := range slots {
				if slots[i].key == k {
					continue next
				}
			}
		}
		slots = append(slots, slot{key: k})
	}
	return slots
}

// answerAll answers the pending slots concurrently until deadline; a slot
// still pending then stays undone.
func (s *Server) answerAll(parent context.Context, deadline time.Time, eng *engine.Engine, slots []slot, pending int, answer keyFunc) {
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	type result struct {
		i   int
		val any
		err error
	}
	results := make(chan result, pending)
	for i := range slots {
		if slots[i].done {
			continue
		}
		go func(req *engine.Request) {
			v, err := s.answer(ctx, eng, req, answer)
			results <- result{i, v, err}
		}(&slots[i].req)
	}
	for ; pending > 0; pending-- {
		select {
		case res := <-results:
			sl := &slots[res.i]
			sl.done, sl.err = true, res.err
			if raw, ok := res.val.(json.RawMessage); ok {
				sl.raw = raw
			} else {
				sl.val = res.val
			}
		case <-ctx.Done():
			return
		}
	}
}

// buffer returns a recycled buffer: a warm request is otherwise mostly
// allocation, and allocation is what drives GC pauses into the latency tail.
func (s *Server) buffer() *bytes.Buffer {
	if b, ok := s.buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// writeItems writes a ProviderResponse with an item per slot. Values that
// are already encoded (cached verdicts) are copied as they are:
// encoding/json would re-validate and compact every cached byte on every
// request.
func (s *Server) writeItems(w http.ResponseWriter, slots []slot) {
	buf := s.buffer()
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep a huge buffer alive
			buf.Reset()
			s.buffers.Put(buf)
		}
	}()
	b := buf.AvailableBuffer()
	b = append(b, `{"apiVersion":"`+apiVersion+`","kind":"`+kindResponse+`","response":{"idempotent":true,"items":[`...)
	for i := range slots {
		sl := &slots[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendString(b, sl.key)
		switch {
		case sl.err != nil:
			b = append(b, `,"error":`...)
			b = appendString(b, sl.key+": "+sl.err.Error())
		case sl.raw != nil:
			b = append(b, `,"value":`...)
			b = append(b, sl.raw...)
		default:
			v, err := json.Marshal(sl.val)
			if err != nil {
				b = append(b, `,"error":`...)
				b = appendString(b, sl.key+": encoding the answer: "+err.Error())
			} else {
				b = append(b, `,"value":`...)
				b = append(b, v...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, "]}}\n"...)
	buf.Write(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// answer runs one key on the worker pool; a panic is that key's error.
func (s *Server) answer(ctx context.Context, eng *engine.Engine, req *engine.Request, answer keyFunc) (v any, err error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return nil, errors.New("not started before the deadline: ratify is overloaded")
	}
	defer func() {
		if p := recover(); p != nil {
			s.metrics.systemErrors.Inc()
			s.log.Error("panic answering key", "image", req.Image, "namespace", req.Namespace, "panic", p)
			v, err = nil, errors.New("internal error")
		}
	}()
	return answer(ctx, eng, req)
}

// splitKey separates Ratify's multi-tenancy prefix, `[namespace]image`,
// when the installation runs the multi-tenancy constraint template, which
// writes the pod's namespace there. Otherwise the key is the image string a
// pod author wrote, and a prefix in it is part of the image (which the
// engine then denies): honouring it would let a pod be judged by another
// namespace's policy.
func (s *Server) splitKey(key string) (namespace, image string) {
	if s.opts.MultiTenancy && strings.HasPrefix(key, "[") {
		if i := strings.Index(key, "]"); i > 0 {
			return key[1:i], key[i+1:]
		}
	}
	return "", key
}

// verifyKey decides one image with the engine's pipeline.
func (s *Server) verifyKey(ctx context.Context, eng *engine.Engine, req *engine.Request) (any, error) {
	v, err := eng.Decide(ctx, req)
	if err != nil {
		return nil, err
	}
	return value(v), nil
}

// value is a verdict's item value: the bytes the engine encoded once with
// the server's EngineOptions, or, for an engine built without them, the
// value encoded now.
func value(v *engine.Verdict) any {
	if v.Value != nil {
		return json.RawMessage(v.Value)
	}
	return toValue(*v.Decision)
}

// mutateKey answers the digest the verification resolves for the image,
// keeping the image's name as written: `app:v1` becomes `app@sha256:...`.
func (s *Server) mutateKey(ctx context.Context, eng *engine.Engine, req *engine.Request) (any, error) {
	return eng.Pin(ctx, req)
}

// encode is the item value of a decision, encoded once by the engine.
func encode(d *engine.Decision) ([]byte, error) { return json.Marshal(toValue(*d)) }

// toValue is the item value of a decision. The decision's reasons travel
// as a report of the policy, so the constraint template can name them.
func toValue(d engine.Decision) Value {
	reports := append([]report.Report{}, d.Reports...)
	if !d.Allow {
		reports = append(reports, report.Report{Verifier: "policy", Subject: d.Reference, Message: strings.Join(d.Reasons, "; "), Signatures: []report.Signature{}})
	}
	return Value{IsSuccess: d.Allow, VerifierReports: reports, TraceID: d.TraceID, Timestamp: d.Time, Version: Version}
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
	if req, ok := decodeFast(body); ok {
		return validate(&req, maxKeys)
	}
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
