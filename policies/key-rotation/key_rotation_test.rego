package ratify.policies.key_rotation_test

import rego.v1

import data.ratify.policies.key_rotation as policy

# Images `ratify policy fixtures` signs; see policies/README.md.
image(tag) := {"reference": sprintf("localhost:5001/app:%s", [tag])}

test_previous_version_is_accepted if policy.allow with input as image("rotation-v1")

test_current_version_is_accepted if policy.allow with input as image("rotation-v2")

test_retired_version_is_denied if {
	not policy.allow with input as image("rotation-v0")
	reasons := policy.reasons with input as image("rotation-v0")
	some r in reasons
	startswith(r, "cosign: ")
}

test_unsigned_is_denied if not policy.allow with input as image("unsigned")

test_retiring_the_previous_version_denies_its_images if {
	not policy.allow with input as image("rotation-v1")
		with policy.accepted_versions as {"2"}
	policy.allow with input as image("rotation-v2")
		with policy.accepted_versions as {"2"}
}

# Mocked provider: a disabled version is never used, even when accepted.
test_mocked_disabled_version_is_not_used if {
	count(policy.keys) == 0 with kmp.keys as [
		{"version": "1", "enabled": false, "pem": "..."},
		{"version": "3", "enabled": true, "pem": "..."},
	]
}
