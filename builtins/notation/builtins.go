package notation

import (
	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/oras"
)

// Builtins are the notation family's declarations.
var Builtins = []*decl.Func{
	{
		Name: "notation.verify", Family: "notation", SubjectArg: 0, Verifies: true,
		Description: "Verifies the Notary Project signatures of an image against a trust policy and trust stores.",
		Args: []decl.Arg{
			{Name: "subject", Type: decl.String, Description: "image reference; a tag is resolved first"},
			{Name: "opts", Type: decl.Object, Description: "{trustPolicy, trustStores: {\"ca:certs\": certificates}, warnings?}"},
		},
		Result:            decl.Object,
		ResultDescription: "report: {verifier, subject, isSuccess, message, signatures: [{digest, artifactType, isSuccess, error, signer, details}]}",
		Impl:              oras.Verifier(VerifierName, VerifyResolved),
	},
}
