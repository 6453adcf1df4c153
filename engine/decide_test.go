package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/engine"
	"github.com/seed-12b584bc/ratify/engine/config"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/sign"
)

// pipeline is a cosign-signed image in an OCI 1.1 registry behind a fault
// proxy, and the resources that trust its key (plus extra documents).
type pipeline struct {
	proxy          *regtest.Proxy
	signed, digest string // the signed image by tag, through the proxy; its digest
	yaml           string
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	reg := regtest.StartOCI11(t, 0)
	proxy := regtest.StartProxy(t, reg.Host)
	repo := regtest.Repo(t, reg.Host, "app", "", "")
	key := sign.NewCosignKey(t)
	d := regtest.PushImage(t, repo, "v1")
	sign.Cosign(t, key, repo, proxy.Host+"/app", d, "")
	return &pipeline{proxy: proxy, signed: proxy.Host + "/app:v1", digest: d.Digest.String(),
		yaml: sample.Resources(sample.Trust{KeyPEM: key.PublicPEM()})}
}

func (p *pipeline) engine(t *testing.T, opts engine.Options, extra ...string) *engine.Engine {
	t.Helper()
	res, err := config.Load(strings.NewReader(strings.Join(append([]string{p.yaml}, extra...), "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	eng, err := engine.New(context.Background(), res, opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func decide(ctx context.Context, eng *engine.Engine, image string) (*engine.Verdict, error) {
	r := eng.Prepare("", image)
	return eng.Decide(ctx, &r)
}

func cachedVerdict(eng *engine.Engine, image string) (*engine.Verdict, bool) {
	r := eng.Prepare("", image)
	return eng.Cached(&r)
}

// TestSharedEvaluationOutlivesFirstCaller: callers asking about one image
// at once share one evaluation, which runs on the engine's deadline. The
// first caller giving up (Gatekeeper's request timing out, a client going
// away) must not fail the others waiting for the same answer.
func TestSharedEvaluationOutlivesFirstCaller(t *testing.T) {
	p := newPipeline(t)
	eng := p.engine(t, engine.Options{BuiltinCacheEntries: -1})
	// Every registry request takes 150 ms: a cold verification takes several.
	p.proxy.Add(regtest.Fault{Delay: 150 * time.Millisecond})

	impatient, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, firstErr = decide(impatient, eng, p.signed)
	}()
	time.Sleep(50 * time.Millisecond)
	patient, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	v, err := decide(patient, eng, p.signed)
	wg.Wait()
	if !errors.Is(firstErr, context.DeadlineExceeded) {
		t.Fatalf("the impatient caller should have run out of time, got %v", firstErr)
	}
	if err != nil {
		t.Fatalf("the patient caller failed with the impatient one: %v", err)
	}
	if !v.Allow {
		t.Fatalf("denied: %v", v.Reasons)
	}
}

// TestInputSubjectSameOnEveryPath: a policy sees input.subject as the
// image was written, whether the engine is asked directly (ratify verify,
// policy eval) or through the cached pipeline (serve).
func TestInputSubjectSameOnEveryPath(t *testing.T) {
	p := newPipeline(t)
	policy := `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Policy
metadata: {name: ratify-policy}
spec:
  type: rego
  parameters:
    policy: |
      package ratify.policy
      import rego.v1
      default allow := false
      allow if {
        input.subject == "` + p.signed + `"
        input.reference == "` + strings.TrimSuffix(p.signed, ":v1") + "@" + p.digest + `"
      }
      reasons contains sprintf("subject %s, reference %s", [input.subject, input.reference]) if not allow`
	eng := p.engine(t, engine.Options{}, policy)
	if d := eng.Evaluate(context.Background(), p.signed, ""); !d.Allow {
		t.Errorf("Evaluate: %v", d.Reasons)
	}
	v, err := decide(context.Background(), eng, p.signed)
	if err != nil || !v.Allow {
		t.Fatalf("Decide: %v %+v", err, v)
	}
	// The cached answer is the same verdict, with no registry request.
	before := p.proxy.Requests()
	cached, ok := cachedVerdict(eng, p.signed)
	if !ok || !cached.Allow || p.proxy.Requests() != before {
		t.Fatalf("cached: %v %+v, %d registry requests", ok, cached, p.proxy.Requests()-before)
	}
}

// TestRequireDigest: where tags are not mutated to digests, a tag
// admitted at verification could be moved to other content before the
// kubelet pulls it, so an installation can deny every reference not pinned
// to a digest.
func TestRequireDigest(t *testing.T) {
	p := newPipeline(t)
	eng := p.engine(t, engine.Options{RequireDigest: true})
	v, err := decide(context.Background(), eng, p.signed)
	if err != nil {
		t.Fatal(err)
	}
	if v.Allow || !strings.Contains(strings.Join(v.Reasons, ";"), "not pinned to a digest") {
		t.Fatalf("a tag was admitted with RequireDigest: %+v", v.Decision)
	}
	pinned := strings.TrimSuffix(p.signed, ":v1") + "@" + p.digest
	if v, err := decide(context.Background(), eng, pinned); err != nil || !v.Allow {
		t.Fatalf("the same image by digest: %v %+v", err, v)
	}
	// Without the option the tag is verified as usual.
	if d := p.engine(t, engine.Options{}).Evaluate(context.Background(), p.signed, ""); !d.Allow {
		t.Fatalf("tag denied without RequireDigest: %v", d.Reasons)
	}
}

// TestBudgetPerDecision: however many artifacts a registry claims, one
// decision makes a bounded number of registry requests; past the budget
// the image is denied with a reason that says so, not verified halfway.
func TestBudgetPerDecision(t *testing.T) {
	p := newPipeline(t)
	eng := p.engine(t, engine.Options{Budget: oras.Limits{Requests: 2}})
	before := p.proxy.Requests()
	v, err := decide(context.Background(), eng, p.signed)
	if err != nil {
		t.Fatal(err)
	}
	if v.Allow {
		t.Fatal("admitted past its registry budget")
	}
	if got := p.proxy.Requests() - before; got > 2 {
		t.Errorf("%d registry requests, budget 2", got)
	}
	if msg := fmt.Sprint(v.Reasons, v.Decision.Reports); !strings.Contains(msg, "budget") {
		t.Errorf("the denial does not name the budget: %s", msg)
	}
	// The default budget admits the image.
	if v, err := decide(context.Background(), p.engine(t, engine.Options{}), p.signed); err != nil || !v.Allow {
		t.Fatalf("default budget: %v %+v", err, v)
	}
}
