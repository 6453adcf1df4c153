package ratify.policies.both_required_test

import rego.v1

import data.ratify.policies.both_required as policy

# Images `ratify policy fixtures` signs; see policies/README.md.
image(tag) := {"reference": sprintf("localhost:5001/app:%s", [tag])}

test_both_signatures_allow if policy.allow with input as image("both")

test_notation_alone_is_denied if {
	not policy.allow with input as image("notation")
	reasons := policy.reasons with input as image("notation")
	some r in reasons
	contains(r, "no cosign signatures")
}

test_cosign_alone_is_denied if {
	not policy.allow with input as image("cosign")
	reasons := policy.reasons with input as image("cosign")
	some r in reasons
	contains(r, "no notation signatures")
}

test_unsigned_is_denied if {
	not policy.allow with input as image("unsigned")
	count(policy.reasons) == 2 with input as image("unsigned")
}

# Mocked builtins: both reports must succeed.
test_mocked_both_succeed if {
	policy.allow with input as {"reference": "localhost:5001/app@sha256:0000"}
		with notation.verify as {"isSuccess": true}
		with cosign.verify as {"isSuccess": true}
		with kmp.certificates as []
		with kmp.keys as []
}

test_mocked_notation_failure_denies if {
	not policy.allow with input as {"reference": "localhost:5001/app@sha256:0000"}
		with notation.verify as {"isSuccess": false, "message": "expired"}
		with cosign.verify as {"isSuccess": true}
		with kmp.certificates as []
		with kmp.keys as []
}
