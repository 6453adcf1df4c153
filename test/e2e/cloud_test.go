package e2e_test

import (
	"path/filepath"
	"testing"

	"github.com/seed-12b584bc/ratify/test/azuresim"
)

// The guide's Azure, simulated (test/azuresim): Entra ID, the registry
// and the vault under their public names, reached by a separate process
// through the simulators' proxy.
const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "5b1c0f7e-3a2d-4e8f-9c6b-7d1e2f3a4b5c"
	acrName  = "ratifytest.azurecr.io"
	akvName  = "ratifytest"
	// ratify's namespace and ServiceAccount, as the guide installs it.
	ratifyNS = "gatekeeper-system"
	ratifySA = "ratify-admin"
)

type cloud struct {
	net   *azuresim.Net
	entra *azuresim.Entra
	acr   *azuresim.ACR
	vault *azuresim.KeyVault
	proxy string
	// tokenFile is the projected ServiceAccount token the workload
	// identity webhook mounts into ratify's pod.
	tokenFile string
}

func newCloud(t testing.TB) *cloud {
	t.Helper()
	c := &cloud{net: azuresim.NewNet(t), entra: azuresim.NewEntra(tenant)}
	c.entra.Serve(t, c.net)
	issuer := azuresim.NewIssuer("https://oidc.example.com/cluster")
	c.entra.AddWorkloadIdentity(clientID, issuer.Credential(ratifyNS, ratifySA))
	c.tokenFile = filepath.Join(t.TempDir(), "azure-identity-token")
	issuer.WriteToken(t, c.tokenFile, ratifyNS, ratifySA)
	c.acr = azuresim.StartACR(t, c.net, c.entra, azuresim.ACROptions{Name: acrName})
	c.acr.Assign(clientID, azuresim.RoleAcrPull)
	c.vault = azuresim.StartKeyVault(t, c.net, c.entra, akvName)
	c.vault.Assign(clientID, azuresim.RoleKeyVaultSecretsUser)
	c.vault.Assign(clientID, azuresim.RoleKeyVaultCryptoUser)
	c.proxy = c.net.Proxy(t)
	return c
}

// webhookEnv is what the Azure workload identity webhook injects into a
// pod labelled azure.workload.identity/use whose ServiceAccount names
// clientID, plus the way out to the simulators (the proxy, their CA).
func (c *cloud) webhookEnv(clientID string) []string {
	return []string{
		"AZURE_CLIENT_ID=" + clientID, "AZURE_TENANT_ID=" + tenant,
		"AZURE_FEDERATED_TOKEN_FILE=" + c.tokenFile, "AZURE_AUTHORITY_HOST=https://" + azuresim.LoginHost + "/",
		"HTTPS_PROXY=" + c.proxy, "SSL_CERT_FILE=" + c.net.CAFile,
	}
}
