# METADATA
# title: Namespaces exempt from verification
# description: |
#   Images admitted to the listed namespaces (the cluster's own components,
#   say) run without verification and without a registry call; everywhere
#   else a trusted Notary Project signature is required. input.namespace is
#   the namespace of the admission request, "" for cluster-scoped objects.
package ratify.policies.exempt_namespaces

import rego.v1

# --- Settings: edit these for your cluster. ---

exempt_namespaces := {"kube-system", "gatekeeper-system"}

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

notation_certificates := "notation-certs"

# --- The policy. ---

exempt if input.namespace in exempt_namespaces

notation_report := notation.verify(input.reference, {
	"trustPolicy": trust_policy,
	"trustStores": {"ca:certs": kmp.certificates(notation_certificates)},
}) if {
	not exempt
}

default allow := false

allow if exempt

allow if notation_report.isSuccess

reasons contains sprintf("notation: %s", [notation_report.message]) if not notation_report.isSuccess
