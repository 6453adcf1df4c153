package notation

import (
	"fmt"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// notation-go's messages for failures whose error types are not
// exported; matched to rephrase them in plain words. Tests pin them.
const (
	msgDescriptorMismatch = "content descriptor mismatch"
	msgIdentityMismatch   = "signing certificate from the digital signature does not match the X.509 trusted identities"
	msgCertExpired        = "verification time is after certificate"
	msgRevocationUnknown  = "revocation status is unknown"
)

// reason explains in plain words why a signature did not verify. notation-go's
// own message is used where it is clear; a few are rephrased because they
// print Go maps or say too little to act on.
func reason(err error, outcome *notationgo.VerificationOutcome, c *checker) string {
	ref := c.subject.String()
	if isType[notationgo.ErrorNoApplicableTrustPolicy](err) {
		return fmt.Sprintf("no trust policy applies to %s: no trust policy has %q or \"*\" in its registryScopes", ref, c.subject.Name())
	}
	if err.Error() == msgDescriptorMismatch {
		if target, ok := signatureIsFor(outcome); ok {
			if target.Digest != c.subjectDesc.Digest {
				return fmt.Sprintf("the signature is for %s not %s", target.Digest, c.subjectDesc.Digest)
			}
			return fmt.Sprintf("the signature is for a %s of %d bytes, not the subject's %s of %d bytes",
				target.MediaType, target.Size, c.subjectDesc.MediaType, c.subjectDesc.Size)
		}
	}
	if plugin, ok := pluginName(outcome); ok && isType[notationgo.ErrorVerificationInconclusive](err) && strings.Contains(err.Error(), "plugin") {
		return fmt.Sprintf("the signature requires the verification plugin %q, and notation.verify does not run plugins", plugin)
	}

	if r := enforcedFailure(outcome); r != nil {
		return explain(r.Type, err, outcome, c)
	}
	return err.Error()
}

// explain rephrases the failure of one validation (enforced, or logged by
// the permissive and audit levels).
func explain(typ trustpolicy.ValidationType, err error, outcome *notationgo.VerificationOutcome, c *checker) string {
	leaf := leafSubject(outcome)
	switch typ {
	case trustpolicy.TypeAuthenticity:
		if strings.HasPrefix(err.Error(), msgIdentityMismatch) && c.policy != nil {
			return fmt.Sprintf("certificate subject %q is not in trustedIdentities of trust policy %q (%s)",
				leaf, c.policy.Name, strings.Join(c.policy.TrustedIdentities, "; "))
		}
		if isType[*signature.SignatureAuthenticityError](err) && c.policy != nil {
			return fmt.Sprintf("certificate %q is not trusted: its chain includes no certificate of trust stores %s",
				leaf, strings.Join(c.policy.TrustStores, ", "))
		}
	case trustpolicy.TypeAuthenticTimestamp:
		// Without a trusted timestamp notation requires every certificate
		// of the chain to be valid now; other timestamp failures keep
		// notation's message.
		if strings.HasPrefix(err.Error(), msgCertExpired) && outcome != nil && outcome.EnvelopeContent != nil {
			now := time.Now()
			for _, cert := range outcome.EnvelopeContent.SignerInfo.CertificateChain {
				if now.After(cert.NotAfter) {
					return fmt.Sprintf("certificate %q expired on %s", cert.Subject, cert.NotAfter.UTC().Format(time.RFC3339))
				}
			}
		}
	case trustpolicy.TypeIntegrity:
		return "the signature envelope is invalid: " + err.Error()
	}
	return err.Error()
}

// pluginName is the verification plugin the signature asks for, if any.
func pluginName(outcome *notationgo.VerificationOutcome) (string, bool) {
	if outcome == nil || outcome.EnvelopeContent == nil {
		return "", false
	}
	attr, err := outcome.EnvelopeContent.SignerInfo.ExtendedAttribute("io.cncf.notary.verificationPlugin")
	if err != nil {
		return "", false
	}
	name, ok := attr.Value.(string)
	return name, ok && name != ""
}
