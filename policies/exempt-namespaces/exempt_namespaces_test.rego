package ratify.policies.exempt_namespaces_test

import rego.v1

import data.ratify.policies.exempt_namespaces as policy

# Images `ratify policy fixtures` signs; see policies/README.md.
image(tag, namespace) := {"reference": sprintf("localhost:5001/app:%s", [tag]), "namespace": namespace}

test_unsigned_runs_in_an_exempt_namespace if policy.allow with input as image("unsigned", "kube-system")

test_unsigned_is_denied_elsewhere if {
	not policy.allow with input as image("unsigned", "default")
	reasons := policy.reasons with input as image("unsigned", "default")
	some r in reasons
	contains(r, "no notation signatures")
}

test_cluster_scoped_requests_are_not_exempt if not policy.allow with input as image("unsigned", "")

test_signed_runs_everywhere if {
	policy.allow with input as image("notation", "default")
	policy.allow with input as image("notation", "kube-system")
}

test_untrusted_signature_is_denied_elsewhere if not policy.allow with input as image("notation-untrusted", "team-a")

# An exempt namespace makes no verification call, so no report.
test_exempt_namespace_does_not_verify if {
	not policy.notation_report with input as image("unsigned", "gatekeeper-system")
	policy.notation_report with input as image("unsigned", "default")
}
