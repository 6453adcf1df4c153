# METADATA
# title: Per-registry cosign keys
# description: |
#   The "fine-tuned trust policy" of the Ratify on Azure guide, as Rego: images
#   of each registry must carry a cosign signature made with that registry's
#   key, from its own key management provider; images of other registries
#   are denied. per_registry_keys.cel.yaml is the same policy in CEL.
package ratify.policies.per_registry_keys

import rego.v1

# --- Settings: edit these for your cluster. ---

# Registry scope (as a cosign Verifier's trustPolicies scopes: host/repo, or
# host/* and host/prefix/* for everything below) to key management provider.
key_providers := {
	"localhost:5001/*": "cosign-key-1",
	"localhost:5002/*": "cosign-key-2",
}

# --- The policy. ---

# The repository of the image, host/repo, without tag or digest.
repository := concat("/", array.concat(array.slice(parts, 0, count(parts) - 1), [split(parts[count(parts) - 1], ":")[0]])) if {
	parts := split(split(input.reference, "@")[0], "/")
}

scope_matches(scope, repo) if {
	endswith(scope, "/*")
	startswith(repo, trim_suffix(scope, "*"))
}

scope_matches(scope, repo) if {
	not endswith(scope, "/*")
	scope == repo
}

providers contains p if {
	some scope, p in key_providers
	scope_matches(scope, repository)
}

report := cosign.verify(input.reference, {"keys": kmp.keys(p)}) if {
	count(providers) == 1
	some p in providers
}

default allow := false

allow if report.isSuccess

reasons contains sprintf("no cosign key is configured for %s", [repository]) if count(providers) == 0

reasons contains sprintf("%s matches the scopes of several providers: %s", [repository, concat(", ", sort(providers))]) if {
	count(providers) > 1
}

reasons contains sprintf("cosign: %s", [report.message]) if not report.isSuccess
