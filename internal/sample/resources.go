package sample

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Trust says what a sample configuration trusts: a notation CA and leaf
// subject, a cosign key, or both.
type Trust struct {
	// CertificatePEM and Subject configure a notation Verifier (KMP
	// "sample-certificate", trust store ca:certs, identity x509.subject).
	CertificatePEM, Subject string
	// KeyPEM configures a cosign Verifier (KMP "sample-key", scope "*").
	KeyPEM string
	// StoreParameters are extra parameters of the plain-HTTP oras Store,
	// e.g. "referrersCacheTTL: 0s".
	StoreParameters string
}

// Resources is a resources YAML for a plain-HTTP registry with cosign
// signatures enabled, inline KMPs and the Verifiers t asks for.
func Resources(t Trust) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	params := "useHttp: true, cosignEnabled: true, authProvider: {name: anonymous}"
	if t.StoreParameters != "" {
		params += ", " + t.StoreParameters
	}
	docs := []string{`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Store
metadata: {name: store-oras}
spec:
  name: oras
  parameters: {` + params + `}`}
	if t.CertificatePEM != "" {
		docs = append(docs, fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: sample-certificate}
spec:
  type: inline
  parameters: {contentType: certificate, value: %s}`, q(t.CertificatePEM)), fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      certs: [sample-certificate]
    trustPolicyDoc:
      version: "1.0"
      trustPolicies:
        - name: default
          registryScopes: ["*"]
          signatureVerification: {level: strict}
          trustStores: ["ca:certs"]
          trustedIdentities: [%s]`, q("x509.subject: "+t.Subject)))
	}
	if t.KeyPEM != "" {
		docs = append(docs, fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: sample-key}
spec:
  type: inline
  parameters: {contentType: key, value: %s}`, q(t.KeyPEM)), `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: sample-key}]}]`)
	}
	return strings.Join(docs, "\n---\n") + "\n"
}
