package ratify.policies.notation_or_cosign_test

import rego.v1

import data.ratify.policies.notation_or_cosign as policy

# Images `ratify policy fixtures` signs; see policies/README.md.
image(tag) := {"reference": sprintf("localhost:5001/app:%s", [tag])}

test_notation_signature_allows if policy.allow with input as image("notation")

test_cosign_signature_allows if policy.allow with input as image("cosign")

test_both_signatures_allow if policy.allow with input as image("both")

test_unsigned_is_denied_with_a_reason if {
	not policy.allow with input as image("unsigned")
	reasons := policy.reasons with input as image("unsigned")
	some r in reasons
	startswith(r, "no signatures")
}

test_untrusted_ca_is_denied if {
	not policy.allow with input as image("notation-untrusted")
	reasons := policy.reasons with input as image("notation-untrusted")
	some r in reasons
	startswith(r, "notation (all)")
}

test_untrusted_identity_is_denied if not policy.allow with input as image("notation-impostor")

test_other_cosign_key_is_denied if not policy.allow with input as image("cosign-key-2")

# One trusted and one untrusted notation signature: "all" denies, "any" allows.
test_all_needs_every_signature if not policy.allow with input as image("two-notation")

test_any_needs_one_signature if {
	policy.allow with input as image("two-notation")
		with policy.modes as {policy.notation_type: "any", policy.cosign_type: "all"}
}

# A required type must be attached, as a type a config-policy lists.
test_missing_required_type_is_denied if {
	not policy.allow with input as image("notation") with policy.required as {policy.cosign_type}
	reasons := policy.reasons with input as image("notation") with policy.required as {policy.cosign_type}
	some r in reasons
	contains(r, "requires a application/vnd.dev.cosign.artifact.sig.v1+json signature")
}

test_required_types_attached_allow if {
	policy.allow with input as image("both") with policy.required as {policy.notation_type, policy.cosign_type}
}

# Mocked builtins: a failing cosign report denies even beside a good notation one.
test_mocked_cosign_failure_denies if {
	not policy.allow with input as {"reference": "localhost:5001/app@sha256:0000"}
		with oras.referrers as [
			{"artifactType": policy.notation_type},
			{"artifactType": policy.cosign_type},
		]
		with notation.verify as {"verifier": "notation", "isSuccess": true, "signatures": []}
		with cosign.verify as {"verifier": "cosign", "isSuccess": false, "message": "bad", "signatures": []}
		with kmp.certificates as []
		with kmp.keys as []
}
