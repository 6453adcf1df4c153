package cosign

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/decl"
	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

// Builtins are the cosign family's declarations.
var Builtins = []*decl.Func{
	{
		Name: "cosign.verify", Family: "cosign", SubjectArg: 0, Verifies: true,
		Description: "Verifies the cosign signatures of an image with public keys.",
		Args: []decl.Arg{
			{Name: "subject", Type: decl.String, Description: "image reference; a tag is resolved first"},
			{Name: "opts", Type: decl.Object, Description: "{keys: keys from kmp.keys or PEM strings, tlog?: bool, warnings?}"},
		},
		Result:            decl.Object,
		ResultDescription: "report: {verifier, subject, isSuccess, message, signatures: [{digest, artifactType, isSuccess, error, signer, details}]}",
		// cosign reads the subject's digest only, not its descriptor.
		Impl: oras.Verifier(VerifierName, func(ctx context.Context, c oras.Content, ref oras.Reference, _ ocispec.Descriptor, opts map[string]any) report.Report {
			return Verify(ctx, c, ref, opts)
		}),
	},
}
