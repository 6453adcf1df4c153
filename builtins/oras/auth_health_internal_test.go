package oras

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A store's auth health: a failure shows until the same host's next
// exchange succeeds; the identity's own failure comes first; a failure
// repeated keeps its first time; a pod author naming many hosts cannot
// grow it past maxAuthFailures.
func TestAuthHealth(t *testing.T) {
	var h authHealth
	if err := h.errAuth(); err != nil {
		t.Fatalf("nothing observed: %v", err)
	}
	h.report("a.azurecr.io", nil)
	if err := h.errAuth(); err != nil {
		t.Fatalf("a success: %v", err)
	}
	refused := errors.New("ACR refused the token exchange at https://a.azurecr.io/oauth2/exchange: 401")
	h.report("a.azurecr.io", refused)
	first := h.errAuth()
	if !errors.Is(first, refused) || !strings.Contains(first.Error(), "denied until an exchange succeeds") {
		t.Fatalf("a refusal: %v", first)
	}
	h.report("a.azurecr.io", errors.New(refused.Error()))
	if again := h.errAuth(); again.Error() != first.Error() {
		t.Errorf("the same refusal again changed the status:\n%v\n%v", first, again)
	}
	noToken := errors.New("no Entra ID token")
	h.report("", noToken)
	if err := h.errAuth(); !strings.HasPrefix(err.Error(), noToken.Error()) || !errors.Is(err, refused) {
		t.Errorf("identity failure not first: %v", err)
	}
	h.report("", nil)
	h.report("a.azurecr.io", nil)
	if err := h.errAuth(); err != nil {
		t.Fatalf("after successes: %v", err)
	}

	for i := range 3 * maxAuthFailures {
		h.report(fmt.Sprintf("r%d.azurecr.io", i), fmt.Errorf("refused by r%d", i))
	}
	if n := len(h.failed); n != maxAuthFailures {
		t.Errorf("%d hosts remembered, want at most %d", n, maxAuthFailures)
	}
	if err := h.errAuth(); !strings.HasPrefix(err.Error(), fmt.Sprintf("refused by r%d", 3*maxAuthFailures-1)) {
		t.Errorf("the newest failure is not first: %v", err)
	}
}
