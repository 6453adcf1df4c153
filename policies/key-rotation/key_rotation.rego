# METADATA
# title: Key rotation, either of two key versions
# description: |
#   During a key rotation images carry cosign signatures made with the
#   previous or the current version of a key. This policy accepts a signature
#   made with any accepted version of the provider's key, and none made with
#   a retired (or leaked) version, although the provider still lists it. Key
#   versions are as the provider names them: Key Vault key versions; for an
#   inline provider, the position of the PEM block, from 0.
package ratify.policies.key_rotation

import rego.v1

# --- Settings: edit these for your cluster. ---

cosign_keys := "cosign-rotating"

# The previous and the current version; drop the previous one when every
# image is re-signed.
accepted_versions := {"1", "2"}

# --- The policy. ---

keys := [k |
	some k in kmp.keys(cosign_keys)
	k.enabled
	k.version in accepted_versions
]

report := cosign.verify(input.reference, {"keys": keys})

default allow := false

# One good signature is enough: an image re-signed with the current version
# may still carry its signature by the previous one.
allow if {
	some s in report.signatures
	s.isSuccess
}

reasons contains msg if {
	count(keys) == 0
	msg := sprintf("%s lists no enabled key of an accepted version (%s)", [cosign_keys, concat(", ", sort(accepted_versions))])
}

reasons contains sprintf("cosign: %s", [report.message]) if not allow
