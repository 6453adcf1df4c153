// Package report is the result shape shared by the verification builtins
// (`notation.verify`, `cosign.verify`) and every failure a builtin records:
//
//	{verifier, subject, isSuccess, message, signatures: [{digest, artifactType, isSuccess, error, signer, ...}]}
//
// Policies read reports as plain JSON-like objects; the Go type exists so the
// builtins produce one shape.
package report

// Report is the outcome of one verification builtin call.
type Report struct {
	// Verifier names the builtin: "notation", "cosign", or for a failure
	// recorded by another builtin its full name ("kmp.keys").
	Verifier string `json:"verifier"`
	// Subject is the image reference verified, pinned to its digest.
	Subject string `json:"subject"`
	// IsSuccess is the verdict of this verifier on the subject.
	IsSuccess bool `json:"isSuccess"`
	// Message explains the verdict in words a person can act on.
	Message string `json:"message"`
	// Signatures holds one entry per signature examined.
	Signatures []Signature `json:"signatures"`
	// Warnings are configuration smells that did not change the verdict.
	Warnings []string `json:"warnings,omitempty"`
	// Transient is true when the failure came from an unreachable or
	// throttling registry (or another outage): retrying may succeed, so the
	// verdict must not be cached.
	Transient bool `json:"transient,omitempty"`
}

// Signature is the outcome for one signature artifact.
type Signature struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
	IsSuccess    bool   `json:"isSuccess"`
	// Error says why the signature did not verify.
	Error string `json:"error,omitempty"`
	// Signer identifies who signed: the certificate subject (notation) or
	// the key that verified it as provider/name[@version] (cosign).
	Signer string `json:"signer,omitempty"`
	// Details carries verifier-specific facts (trust policy used,
	// verification level, issuer, key, ...).
	Details map[string]any `json:"details,omitempty"`
}

// Failure is a report of a builtin that could not run at all.
func Failure(verifier, subject, message string) Report {
	return Report{Verifier: verifier, Subject: subject, Message: message, Signatures: []Signature{}}
}
