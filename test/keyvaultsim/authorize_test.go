package keyvaultsim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// With an Authorizer, the vault accepts the tokens it allows (not its own
// Credential's), answers 403 ForbiddenByRbac for an operation the caller
// may not do, and challenges a token it refuses.
func TestAuthorizer(t *testing.T) {
	var asked []string
	v := keyvaultsim.Start(t, keyvaultsim.Options{Authorize: func(token string, kind keyvaultsim.Kind, op string) error {
		asked = append(asked, string(kind)+" "+op)
		switch {
		case token != "issued":
			return errors.New("not issued by the identity platform")
		case kind == keyvaultsim.Keys:
			return &keyvaultsim.ForbiddenError{Message: "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/keys/read'"}
		}
		return nil
	}})
	v.SetSecret("s", "text/plain", "x")
	if _, _, err := v.CreateKey("k", keyvaultsim.KeyOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, k, _ := clients(t, v, keyvaultsim.StaticCredential("issued"))
	if _, err := s.GetSecret(ctx, "s", "", nil); err != nil {
		t.Fatalf("allowed secret: %v", err)
	}
	pager := s.NewListSecretPropertiesVersionsPager("s", nil)
	if _, err := pager.NextPage(ctx); err != nil {
		t.Fatalf("allowed listing: %v", err)
	}
	_, err := k.GetKey(ctx, "k", "", nil)
	if code, ec := statusOf(err); code != 403 || ec != "Forbidden" || !strings.Contains(err.Error(), "ForbiddenByRbac") || !strings.Contains(err.Error(), "keys/read") {
		t.Errorf("forbidden key: %d %s %v", code, ec, err)
	}
	own, _, _ := clients(t, v, v.Credential())
	_, err = own.GetSecret(ctx, "s", "", nil)
	if code, _ := statusOf(err); code != 401 || !strings.Contains(err.Error(), "not issued by the identity platform") {
		t.Errorf("the vault's own token with an Authorizer: %v", err)
	}
	want := "secrets get, secrets list, keys get, secrets get"
	if got := strings.Join(asked, ", "); got != want {
		t.Errorf("asked %q, want %q", got, want)
	}
}
