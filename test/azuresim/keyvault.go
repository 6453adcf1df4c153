package azuresim

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// This file puts a simulated Key Vault (test/keyvaultsim) behind the
// simulated Entra ID, as a vault with the Azure RBAC permission model is:
// it accepts Entra ID access tokens for https://vault.azure.net of the
// tenant, and only for the data actions of the caller's role assignments.

// KeyVaultResource is the resource (audience) of Entra ID tokens for Key
// Vault, the one its authentication challenge names.
const KeyVaultResource = keyvaultsim.Resource

// Key Vault's built-in data-plane roles that ratify's identity may hold.
const (
	// RoleKeyVaultSecretsUser reads secret contents: a certificate's chain.
	RoleKeyVaultSecretsUser = "Key Vault Secrets User"
	// RoleKeyVaultCryptoUser reads keys (and uses them): cosign's keys.
	RoleKeyVaultCryptoUser = "Key Vault Crypto User"
	// RoleKeyVaultCertificateUser reads certificates and their policies.
	RoleKeyVaultCertificateUser = "Key Vault Certificate User"
)

// roleKinds are the collections each role reads (get and list).
var roleKinds = map[string]keyvaultsim.Kind{
	RoleKeyVaultSecretsUser:     keyvaultsim.Secrets,
	RoleKeyVaultCryptoUser:      keyvaultsim.Keys,
	RoleKeyVaultCertificateUser: keyvaultsim.Certificates,
}

// dataActions are the Azure RBAC data actions of each request, as the
// service's 403 names them.
var dataActions = map[string]string{
	"secrets get": "Microsoft.KeyVault/vaults/secrets/getSecret/action", "secrets list": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
	"keys get": "Microsoft.KeyVault/vaults/keys/read", "keys list": "Microsoft.KeyVault/vaults/keys/read",
	"certificates get": "Microsoft.KeyVault/vaults/certificates/read", "certificates list": "Microsoft.KeyVault/vaults/certificates/read",
}

// KeyVault is a simulated vault that Entra ID's tokens open.
type KeyVault struct {
	*keyvaultsim.Vault
	entra *Entra

	mu       sync.Mutex
	roles    map[string]map[string]bool // client ID → role → assigned
	accepted map[string]int             // client ID → requests let through
}

// StartKeyVault runs a vault named name (name.vault.azure.net) whose
// challenge names e's tenant, served on n under its name until the test
// ends. No identity has a role on it until Assign.
func StartKeyVault(t testing.TB, n *Net, e *Entra, name string) *KeyVault {
	t.Helper()
	kv := &KeyVault{entra: e, roles: map[string]map[string]bool{}, accepted: map[string]int{}}
	kv.Vault = keyvaultsim.Start(t, keyvaultsim.Options{Name: name, TenantID: e.Tenant, Authorize: kv.authorize})
	n.ServeTLS(t, kv.Handler(), kv.Host())
	return kv
}

// Assign gives clientID a role on the vault.
func (kv *KeyVault) Assign(clientID, role string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.roles[clientID] == nil {
		kv.roles[clientID] = map[string]bool{}
	}
	kv.roles[clientID][role] = true
}

// Unassign removes a role assignment of clientID.
func (kv *KeyVault) Unassign(clientID, role string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	delete(kv.roles[clientID], role)
}

// Accepted is how many requests of clientID's tokens the vault let through.
func (kv *KeyVault) Accepted(clientID string) int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.accepted[clientID]
}

func (kv *KeyVault) authorize(token string, kind keyvaultsim.Kind, op string) error {
	var claims struct {
		Aud   string `json:"aud"`
		Tid   string `json:"tid"`
		AppID string `json:"appid"`
		OID   string `json:"oid"`
	}
	if err := verifyJWT(kv.entra.PublicKey(), token, time.Now(), &claims); err != nil {
		return err
	}
	if claims.Aud != KeyVaultResource || claims.Tid != kv.entra.Tenant {
		return fmt.Errorf("the token is for %s of tenant %s, not %s of tenant %s", claims.Aud, claims.Tid, KeyVaultResource, kv.entra.Tenant)
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for role, assigned := range kv.roles[claims.AppID] {
		if assigned && roleKinds[role] == kind {
			kv.accepted[claims.AppID]++
			return nil
		}
	}
	return &keyvaultsim.ForbiddenError{Message: fmt.Sprintf("Caller is not authorized to perform action on resource. "+
		"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. "+
		"Caller: appid=%s;oid=%s. Action: '%s'. Vault: %s.", claims.AppID, claims.OID, dataActions[string(kind)+" "+op], kv.Host())}
}
