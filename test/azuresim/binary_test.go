package azuresim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/test/azuresim"
)

// TestRatifyVerifyBinary runs the built `ratify verify` on its default
// transports, as in a private cloud: Entra ID at an authority host MSAL
// does not know (so disableInstanceDiscovery), the registry under a name
// that is not *.azurecr.io (so endpoints), the simulators' CA trusted
// through SSL_CERT_FILE.
func TestRatifyVerifyBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ratify")
	}
	c := newCloud(t)
	entraAddr := c.entra.Serve(t, c.net)
	reg := azuresim.StartACR(t, c.net, c.entra, azuresim.ACROptions{})
	reg.Assign(clientID, azuresim.RoleAcrPull)
	repo := reg.Repository(t, c.net, "ratify-demo/net-monitor")
	signed := c.push(t, repo, reg.Host, "ratify-demo/net-monitor", true)
	unsigned := c.push(t, repo, reg.Host, "ratify-demo/net-monitor", false)

	bin := filepath.Join(t.TempDir(), "ratify")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/seed-12b584bc/ratify/cmd/ratify").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keyJSON, _ := json.Marshal(c.key.PublicPEM())
	cfg := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata:
  name: store-oras
spec:
  name: oras
  parameters:
    authProvider:
      name: azureWorkloadIdentity
      clientID: %s
      endpoints: [%q]
      disableInstanceDiscovery: true
    cosignEnabled: true
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata:
  name: keymanagementprovider-akv
spec:
  type: inline
  parameters:
    contentType: key
    value: %s
---
apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata:
  name: verifier-cosign
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies:
      - name: default
        scopes: ["*"]
        keys: [{provider: keymanagementprovider-akv}]
`, clientID, reg.Host, keyJSON)), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(image string) (int, string) {
		cmd := exec.Command(bin, "verify", "-s", image, "-c", cfg)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+c.net.CAFile, "HOME="+t.TempDir(),
			"AZURE_AUTHORITY_HOST=https://"+entraAddr+"/")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	discoveries := len(c.entra.InstanceDiscoveries())
	for _, tc := range []struct {
		name, image string
		code        int
		want        string
	}{
		{"signed", signed, 0, "ALLOWED"},
		{"unsigned", unsigned, 1, "no signatures"},
	} {
		code, out := verify(tc.image)
		t.Logf("%s:\n%s", tc.name, out)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tc.name, code, tc.code, tc.want, out)
		}
	}
	if n := len(c.entra.InstanceDiscoveries()); n != discoveries {
		t.Errorf("%d instance discovery requests with disableInstanceDiscovery", n-discoveries)
	}
	if reg.Counts().Exchange != 2 {
		t.Errorf("%d exchanges for two runs, want 2", reg.Counts().Exchange)
	}

	reg.RefuseExchange(401, "UNAUTHORIZED", "no role assignment")
	code, out := verify(signed)
	if code != 1 || !strings.Contains(out, "ACR refused the token exchange") {
		t.Errorf("refused exchange: exit %d:\n%s", code, out)
	}
}
