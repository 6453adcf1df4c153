# METADATA
# title: Notary Project and cosign signatures, both required
# description: |
#   An image runs only with a trusted Notary Project signature and a cosign
#   signature made with a trusted key, as when a build system signs with one
#   and a release process with the other. Either one alone is denied.
package ratify.policies.both_required

import rego.v1

# --- Settings: edit these for your cluster. ---

# The Notary Project trust policy, as in a notation Verifier's trustPolicyDoc.
trust_policy := {
	"version": "1.0",
	"trustPolicies": [{
		"name": "default",
		"registryScopes": ["*"],
		"signatureVerification": {"level": "strict"},
		"trustStores": ["ca:certs"],
		"trustedIdentities": ["x509.subject: CN=ratify-policies,O=Ratify Test,L=Seattle,ST=WA,C=US"],
	}],
}

# Key management providers: CA certificates for notation, public keys for cosign.
notation_certificates := "notation-certs"

cosign_keys := "cosign-key-1"

# --- The policy. ---

notation_report := notation.verify(input.reference, {
	"trustPolicy": trust_policy,
	"trustStores": {"ca:certs": kmp.certificates(notation_certificates)},
})

cosign_report := cosign.verify(input.reference, {"keys": kmp.keys(cosign_keys)})

default allow := false

allow if {
	notation_report.isSuccess
	cosign_report.isSuccess
}

reasons contains sprintf("notation: %s", [notation_report.message]) if not notation_report.isSuccess

reasons contains sprintf("cosign: %s", [cosign_report.message]) if not cosign_report.isSuccess
