package ratify.policies.per_registry_keys_test

import rego.v1

import data.ratify.policies.per_registry_keys as policy

# Images `ratify policy fixtures` signs; see policies/README.md.
registry_one(tag) := {"reference": sprintf("localhost:5001/app:%s", [tag])}

registry_two(tag) := {"reference": sprintf("localhost:5002/app:%s", [tag])}

test_registry_one_with_its_key if policy.allow with input as registry_one("cosign")

test_registry_two_with_its_key if policy.allow with input as registry_two("cosign-key-2")

test_registry_one_with_the_other_key_is_denied if not policy.allow with input as registry_one("cosign-key-2")

test_registry_two_with_the_other_key_is_denied if {
	not policy.allow with input as registry_two("cosign")
	reasons := policy.reasons with input as registry_two("cosign")
	some r in reasons
	startswith(r, "cosign: ")
}

test_other_registry_is_denied if {
	not policy.allow with input as {"reference": "localhost:5003/app:cosign"}
	reasons := policy.reasons with input as {"reference": "localhost:5003/app:cosign"}
	reasons == {"no cosign key is configured for localhost:5003/app"}
}

test_repository_drops_tag_and_digest if {
	policy.repository == "localhost:5001/team/app" with input as {"reference": "localhost:5001/team/app:v1"}
	policy.repository == "localhost:5001/team/app" with input as {"reference": "localhost:5001/team/app@sha256:00"}
}

test_overlapping_scopes_are_denied if {
	not policy.allow with input as registry_one("cosign")
		with policy.key_providers as {"localhost:5001/*": "cosign-key-1", "localhost:5001/app": "cosign-key-2"}
}
