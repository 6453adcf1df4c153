package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `make run`: the demo's printed requests answer allow, allow, deny, and
// the mutation answers the digest.
func TestDemoRequests(t *testing.T) {
	var out, errb syncBuffer
	a := &app{stdout: &out, stderr: &errb}
	root := newRootCmd(a)
	root.SetArgs([]string{"demo", "--addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	defer func() {
		cancel()
		if !stopped {
			<-done
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("demo stopped: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	curl := regexp.MustCompile(`curl -s -X POST (\S+) -H 'Content-Type: application/json' -d '([^']+)'`)
	calls := curl.FindAllStringSubmatch(out.String(), -1)
	if len(calls) != 5 {
		t.Fatalf("want 5 requests printed, got %d:\n%s", len(calls), out.String())
	}
	answers := make([]map[string]any, len(calls))
	for i, c := range calls {
		resp, err := http.Post(c[1], "application/json", strings.NewReader(c[2]))
		if err != nil {
			t.Fatal(err)
		}
		var pr struct {
			Response struct {
				Items []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
					Error string `json:"error"`
				} `json:"items"`
			} `json:"response"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		answers[i] = map[string]any{}
		for _, it := range pr.Response.Items {
			if it.Error != "" {
				t.Fatalf("request %d: key %s: %s", i, it.Key, it.Error)
			}
			answers[i][it.Key] = it.Value
		}
	}
	// Every printed request is answered, key by key: a loop over an empty
	// answer would check nothing.
	for i, want := range []int{1, 1, 1, 3, 1} {
		if len(answers[i]) != want {
			t.Fatalf("request %d: %d keys answered, want %d: %v", i, len(answers[i]), want, answers[i])
		}
	}
	success := func(v any) bool { m, _ := v.(map[string]any); return m["isSuccess"] == true }
	for i, want := range []bool{true, true, false} {
		for key, v := range answers[i] {
			if success(v) != want {
				t.Errorf("%s: isSuccess %v, want %v", key, success(v), want)
			}
		}
	}
	for key, v := range answers[3] {
		if success(v) != !strings.Contains(key, "unsigned") {
			t.Errorf("mixed request: %s: %v", key, v)
		}
	}
	for key, v := range answers[4] {
		s, _ := v.(string)
		if !strings.Contains(s, "@sha256:") || !strings.HasPrefix(s, strings.Split(key, ":cosign")[0]) {
			t.Errorf("mutation of %s: %v", key, v)
		}
	}
}
