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
		docs = append(docs, InlineKMPDoc("sample-certificate", "certificate", t.CertificatePEM),
			NotationVerifierDoc("sample-certificate", t.Subject))
	}
	if t.KeyPEM != "" {
		docs = append(docs, InlineKMPDoc("sample-key", "key", t.KeyPEM), CosignVerifierDoc("sample-key"))
	}
	return strings.Join(docs, "\n---\n") + "\n"
}

// quoteYAML quotes s for a YAML flow value (JSON strings are YAML).
func quoteYAML(s string) string { b, _ := json.Marshal(s); return string(b) }

// InlineKMPDoc is a KeyManagementProvider of type inline named name, of
// contentType ("key" or "certificate") holding value.
func InlineKMPDoc(name, contentType, value string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: KeyManagementProvider
metadata: {name: %s}
spec:
  type: inline
  parameters: {contentType: %s, value: %s}`, name, contentType, quoteYAML(value))
}

// NotationVerifierDoc is the Verifier verifier-notation: every registry,
// strict verification, the certificates of the KMP certs as its CA, and
// the leaf subject it trusts.
func NotationVerifierDoc(certs, subject string) string {
	return fmt.Sprintf(`apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-notation}
spec:
  name: notation
  artifactTypes: application/vnd.cncf.notary.signature
  parameters:
    verificationCertStores:
      certs: [%s]
    trustPolicyDoc:
      version: "1.0"
      trustPolicies:
        - name: default
          registryScopes: ["*"]
          signatureVerification: {level: strict}
          trustStores: ["ca:certs"]
          trustedIdentities: [%s]`, certs, quoteYAML("x509.subject: "+subject))
}

// CosignVerifierDoc is the Verifier verifier-cosign: every registry, the
// keys of the KMP keys.
func CosignVerifierDoc(keys string) string {
	return `apiVersion: config.ratify.deislabs.io/v1beta1
kind: Verifier
metadata: {name: verifier-cosign}
spec:
  name: cosign
  artifactTypes: application/vnd.dev.cosign.artifact.sig.v1+json
  parameters:
    trustPolicies: [{name: default, scopes: ["*"], keys: [{provider: ` + keys + `}]}]`
}
