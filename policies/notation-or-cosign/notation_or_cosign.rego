# METADATA
# title: Notary Project or cosign signatures (the compiled default's shape)
# description: |
#   What ratify compiles from a notation Verifier and a cosign Verifier
#   (compare `ratify policy show`), written by hand: every signature type
#   attached to the image that the policy knows must pass its mode, "all"
#   (every signature of the type verifies) or "any" (one does), an image
#   with neither type is denied, and so is one that lacks a required type.
package ratify.policies.notation_or_cosign

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

# The mode of each signature type: "all" (every signature of the type must
# verify) or "any" (one must). A config-policy's artifactVerificationPolicies
# say the same with its "default" entry (the mode of both) and an entry per
# type (that type's mode).
modes := {
	notation_type: "all",
	cosign_type: "all",
}

# Signature types that must be attached. A config-policy requires every type
# its artifactVerificationPolicies list by name ("default" aside): list them
# here too, such as {notation_type}.
required := set()

# --- The policy. ---

notation_type := "application/vnd.cncf.notary.signature"

cosign_type := "application/vnd.dev.cosign.artifact.sig.v1+json"

# Signature types attached to the image that this policy verifies.
present contains r.artifactType if {
	some r in oras.referrers(input.reference, "")
	r.artifactType in object.keys(modes)
}

verify(t) := notation.verify(input.reference, {
	"trustPolicy": trust_policy,
	"trustStores": {"ca:certs": kmp.certificates(notation_certificates)},
}) if {
	t == notation_type
}

verify(t) := cosign.verify(input.reference, {"keys": kmp.keys(cosign_keys)}) if {
	t == cosign_type
}

reports := {t: verify(t) | some t in present}

verified contains t if {
	some t, report in reports
	modes[t] == "all"
	report.isSuccess
}

verified contains t if {
	some t, report in reports
	modes[t] == "any"
	some s in report.signatures
	s.isSuccess
}

default allow := false

allow if {
	count(present) > 0
	every t in present {
		t in verified
	}
	every t in required {
		t in present
	}
}

reasons contains msg if {
	count(present) == 0
	msg := sprintf("no signatures: %s has no Notary Project or cosign signature", [input.reference])
}

reasons contains msg if {
	some t in required
	not t in present
	msg := sprintf("%s requires a %s signature; none is attached", [input.reference, t])
}

reasons contains sprintf("%s (%s): %s", [report.verifier, modes[t], report.message]) if {
	some t, report in reports
	not t in verified
}
