package azuresim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/test/azuresim"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// What an operator sees in a KeyManagementProvider's status when the
// guide's vault setup is wrong, and that images verified through it are
// denied with the same reason: a key of a type verifiers cannot use, a
// missing role assignment, a PKCS#12 certificate with a non-exportable
// key.
func TestGuideKeyVaultErrors(t *testing.T) {
	g := newGuideCloud(t)
	const image = "ratify-demo/net-monitor"
	repo := g.acr.Repository(t, g.net, image)
	_, key := g.createCosignKey(t, "unused")
	signed := pushCosign(t, repo, image, key)

	for _, tc := range []struct {
		name string
		// setup prepares the vault and names the key the KMP lists.
		setup func(t *testing.T) (keyName, keyVer string)
		is    error
		want  []string
	}{{
		name: "oct key",
		setup: func(*testing.T) (string, string) {
			return "ratify-oct", g.vault.ImportKeyJWK("ratify-oct", map[string]any{"kty": "oct", "key_ops": []string{"sign", "verify"}})
		},
		is:   kmp.ErrUnsupportedKeyType,
		want: []string{`unsupported key type "oct"`, "RSA, RSA-HSM, EC or EC-HSM"},
	}, {
		name: "no Key Vault Crypto User role",
		setup: func(t *testing.T) (string, string) {
			g.vault.Unassign(clientID, azuresim.RoleKeyVaultCryptoUser)
			t.Cleanup(func() { g.vault.Assign(clientID, azuresim.RoleKeyVaultCryptoUser) })
			ver, _ := g.createCosignKey(t, "ratify-norole")
			return "ratify-norole", ver
		},
		want: []string{"403 Forbidden", "Microsoft.KeyVault/vaults/keys/read", "Key Vault Crypto User"},
	}, {
		name: "missing key version",
		setup: func(t *testing.T) (string, string) {
			g.createCosignKey(t, "ratify-typo")
			return "ratify-typo", "0123456789abcdef0123456789abcdef"
		},
		want: []string{"404 Not Found", "KeyNotFound", "no such object or version"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g.vars["KEY_NAME"], g.vars["KEY_VER"] = tc.setup(t)
			p := g.kmp(t, "kmp_config_cosign.yaml")
			s := g.shared()
			_, err := check(t, s, p)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || errors.Is(err, kmp.ErrTransient) {
				t.Fatalf("check: %v, want a permanent error (%v)", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("status error lacks %q: %v", w, err)
				}
			}
			e := build(t, s, g.resources(t, p))
			t.Logf("denied: %s", wantDenied(t, e, "signed image", signed, tc.want[0]))
		})
	}

	// The guide advises non-exportable keys; a PKCS#12 secret without its
	// key is not readable by Go, so the status says to use PEM or an inline
	// provider (the identity may read the certificate's policy here).
	t.Run("non-exportable PKCS12", func(t *testing.T) {
		g.vault.Assign(clientID, azuresim.RoleKeyVaultCertificateUser)
		cert, err := g.vault.CreateCertificate("ratify-p12", keyvaultsim.CertificateOptions{ContentType: keyvaultsim.ContentTypePKCS12, NonExportable: true})
		if err != nil {
			t.Fatal(err)
		}
		g.vars["CERT_NAME"], g.vars["CERT_KEY_ID"] = "ratify-p12", cert.Version
		_, err = check(t, g.shared(), g.kmp(t, "kmp_config_notation.yaml"))
		if !errors.Is(err, kmp.ErrNonExportable) || !strings.Contains(err.Error(), "inline key management provider") {
			t.Fatalf("check: %v, want %v", err, kmp.ErrNonExportable)
		}
	})
}
