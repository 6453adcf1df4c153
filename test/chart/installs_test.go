package chart

import (
	"crypto/x509/pkix"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// clientID is the guide's ${IDENTITY_CLIENT_ID}.
const clientID = "4f5c3f0e-8d2b-4a7e-9c61-0b2d3e4f5a6b"

// userTLS is a CA and a serving certificate for ratify.gatekeeper-system,
// as an operator brings them (provider.tls.*).
type userTLS struct {
	caPEM, crtFile, keyFile string
	// dockerConfig is an empty docker config.json, for dockerConfig.
	dockerConfig string
}

func newUserTLS(t *testing.T) userTLS {
	t.Helper()
	ca, err := sample.NewTLSCA(pkix.Name{CommonName: "operator CA"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(sample.ServerTemplate("ratify.gatekeeper-system", "ratify.gatekeeper-system.svc"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u := userTLS{
		caPEM:        string(ca.PEM()),
		crtFile:      filepath.Join(dir, "tls.crt"),
		keyFile:      filepath.Join(dir, "tls.key"),
		dockerConfig: filepath.Join(dir, "config.json"),
	}
	write(t, u.dockerConfig, []byte(`{"auths":{}}`))
	if err := sample.WritePair(leaf, u.crtFile, u.keyFile); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u userTLS) cabundle() string { return base64.StdEncoding.EncodeToString([]byte(u.caPEM)) }

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The install paths docs/chart.md describes, and renderings that set the
// other values, each checked by its own function in templates_test.go and
// all of them by checkEveryInstall.
const (
	caseDefaults   = "defaults"
	caseGuide      = "guide"
	caseAddOn      = "azure-policy-add-on"
	caseUserTLS    = "user-tls"
	caseReplicas   = "replicas"
	caseEverything = "everything"
	caseDeprecated = "deprecated-values"
)

func installs(t *testing.T, tls userTLS) []install {
	gk := "gatekeeper-system"
	return []install{
		{name: caseDefaults, release: "ratify", namespace: gk},
		// The guide's `helm install ratify ratify/ratify --set ...`.
		{name: caseGuide, release: "ratify", namespace: gk, flags: []string{
			"--set", "featureFlags.RATIFY_CERT_ROTATION=true",
			"--set", "azureWorkloadIdentity.clientId=" + clientID,
		}},
		// The guide's install on a cluster with the Azure Policy add-on.
		{name: caseAddOn, release: "ratify", namespace: gk, flags: []string{
			"--set", "provider.enableMutation=false",
			"--set", "featureFlags.RATIFY_CERT_ROTATION=true",
			"--set", "azureWorkloadIdentity.clientId=" + clientID,
		}},
		{name: caseUserTLS, release: "ratify", namespace: gk, flags: []string{
			"--set-file", "provider.tls.crt=" + tls.crtFile,
			"--set-file", "provider.tls.key=" + tls.keyFile,
			"--set", "provider.tls.cabundle=" + tls.cabundle(),
		}},
		{name: caseReplicas, release: "ratify", namespace: gk, flags: []string{"--set", "replicaCount=3"}},
		// Another release name and namespace, and every value that changes
		// what is rendered.
		{name: caseEverything, release: "my", namespace: "ratify-system", flags: []string{
			"--set", "azureWorkloadIdentity.clientId=" + clientID,
			"--set", "oras.authProviders.azureWorkloadIdentityEnabled=true",
			"--set", "oras.authProviders.azureContainerRegistryEndpoints={myregistry.example}",
			"--set", "oras.useHttp=true",
			"--set", "oras.cache.enabled=false",
			"--set", "provider.cache.enabled=false",
			"--set", "provider.timeout.validationTimeoutSeconds=3",
			"--set", "provider.timeout.mutationTimeoutSeconds=1",
			"--set", "provider.mutationExcludedNamespaces={legacy-apps}",
			"--set", "provider.requireDigest=true",
			"--set", "multiTenancy.enabled=true",
			"--set", "instrumentation.metricsEnabled=false",
			"--set", "healthPort=9100",
			"--set-file", "notationCerts[0]=" + tls.crtFile,
			"--set-file", "notationCerts[1]=" + tls.crtFile,
			"--set-file", "cosignKeys[0]=" + tls.keyFile,
			"--set", "azurekeyvault.enabled=true",
			"--set", "azurekeyvault.vaultURI=https://myvault.vault.example/",
			"--set", "azurekeyvault.tenantId=tenant",
			"--set", "azurekeyvault.certificates[0].name=notation-cert",
			"--set", "azurekeyvault.keys[0].name=cosign-key",
			"--set", "azurekeyvault.keys[0].version=v2",
			"--set", "azurekeyvault.refreshInterval=1h",
			"--set", "notation.trustPolicies[0].name=default",
			"--set", "notation.trustPolicies[0].registryScopes={*}",
			"--set", "notation.trustPolicies[0].trustStores={ca:notationCerts[1],tsa:azurekeyvault}",
			"--set", "policy.useRego=true",
			"--set", "upgradeCRDs.enabled=true",
			"--set", "image.repository=myregistry.example/ratify",
			"--set", "image.tag=v9",
			"--set", "image.crdRepository=kubectl",
			"--set", "image.crdTag=v1.37.2",
			"--set-file", "dockerConfig=" + tls.dockerConfig,
			"--set", "podLabels.team=platform",
			"--set", "nodeSelector.kubernetes\\.io/os=linux",
			"--set", "imagePullSecrets[0].name=pull",
			"--set", "sbom.enabled=true",
		}},
		// Ratify's deprecated values still create their resources.
		{name: caseDeprecated, release: "ratify", namespace: gk, flags: []string{
			"--set", "azureWorkloadIdentity.clientId=" + clientID,
			"--set-file", "notationCert=" + tls.crtFile,
			"--set-file", "cosign.key=" + tls.keyFile,
			"--set", "akvCertConfig.enabled=true",
			"--set", "akvCertConfig.vaultURI=https://myvault.vault.example/",
			"--set", "akvCertConfig.cert1Name=old-cert",
			"--set", "akvCertConfig.cert1Version=v1",
			"--set", "akvCertConfig.tenantId=tenant",
		}},
	}
}
