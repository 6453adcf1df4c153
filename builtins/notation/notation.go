// Package notation implements the `notation.verify(subject, opts)` builtin:
// it verifies the Notary Project signatures attached to an image with
// notation-go, against a trust policy and trust stores given entirely in
// opts (nothing is read from the notation configuration directory).
package notation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

const (
	// VerifierName is the report's `verifier`.
	VerifierName = "notation"
	// SignatureArtifactType is the artifact type of Notary Project signatures.
	SignatureArtifactType = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS and MediaTypeCOSE are the signature envelope media types.
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"

	// maxSignatures bounds the work one call does for an image with
	// pathologically many signatures; the rest are reported as a warning.
	maxSignatures = 100
)

// Revocation checking (OCSP, then CRL) is done by notation-core-go for
// certificates that name OCSP or CRL endpoints; certificates without them
// are "non-revokable" and need no network. For those that do, the clients
// below bound each request to a few seconds (the admission deadline in ctx
// bounds the whole call as well), and the CRL fetcher has no cache, because
// notation's file cache would write under $HOME. We keep revocation on
// rather than disabling it: a strict trust policy asks for it.
var revocationValidators = sync.OnceValues(func() (verifier.VerifierOptions, error) {
	fetcher, err := crl.NewHTTPFetcher(&http.Client{Timeout: 3 * time.Second})
	if err != nil {
		return verifier.VerifierOptions{}, fmt.Errorf("CRL fetcher: %w", err)
	}
	opts := verifier.VerifierOptions{}
	opts.RevocationCodeSigningValidator, err = revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   &http.Client{Timeout: 2 * time.Second},
		CRLFetcher:       fetcher,
		CertChainPurpose: purpose.CodeSigning,
	})
	if err != nil {
		return opts, fmt.Errorf("revocation validator: %w", err)
	}
	opts.RevocationTimestampingValidator, err = revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   &http.Client{Timeout: 2 * time.Second},
		CRLFetcher:       fetcher,
		CertChainPurpose: purpose.Timestamping,
	})
	if err != nil {
		return opts, fmt.Errorf("timestamping revocation validator: %w", err)
	}
	return opts, nil
})

// newVerifier builds notation-go's verifier over opts. The plugin manager
// is nil: signatures that require a verification plugin fail (see reason).
func newVerifier(o Options) (notationgo.Verifier, error) {
	vopts, err := revocationValidators()
	if err != nil {
		return nil, err
	}
	return verifier.NewWithOptions(o.TrustPolicy, o.TrustStores, nil, vopts)
}

// Verify verifies the Notary Project signatures of subject (a reference
// pinned to a digest; a tag is resolved first). It never panics and never
// returns an error: every failure is a report with IsSuccess false.
func Verify(ctx context.Context, store oras.Content, subject oras.Reference, opts map[string]any) report.Report {
	return VerifyResolved(ctx, store, subject, ocispec.Descriptor{}, opts)
}

// VerifyResolved is Verify for a subject already resolved to desc (zero:
// resolve it here), so the engine's one resolution serves the verifier.
func VerifyResolved(ctx context.Context, store oras.Content, subject oras.Reference, desc ocispec.Descriptor, opts map[string]any) (rep report.Report) {
	defer func() {
		if r := recover(); r != nil {
			rep = report.Failure(VerifierName, subject.String(), fmt.Sprintf("notation.verify failed unexpectedly: %v", r))
		}
	}()
	return verify(ctx, store, subject, desc, opts)
}

func verify(ctx context.Context, store oras.Content, subject oras.Reference, subjectDesc ocispec.Descriptor, opts map[string]any) report.Report {
	rep := report.Failure(VerifierName, subject.String(), "")
	p, err := prepare(optionsMemo(ctx), opts)
	rep.Warnings = p.warnings()
	if err != nil {
		rep.Message = "invalid notation options: " + oneLine(err.Error())
		return rep
	}
	if store == nil {
		rep.Message = "notation.verify has no store to read signatures from"
		return rep
	}
	if p.verifierErr != nil {
		rep.Message = "cannot build the notation verifier: " + oneLine(p.verifierErr.Error())
		return rep
	}
	o, v := p.opts, p.verifier

	if subjectDesc.Digest == "" || (subject.Digest != "" && subjectDesc.Digest != subject.Digest) {
		if subjectDesc, err = store.Resolve(ctx, subject); err != nil {
			return storeFailure(rep, "cannot resolve the subject", err)
		}
	}
	subject = subject.WithDigest(subjectDesc.Digest)
	rep.Subject = subject.String()

	refs, err := store.Referrers(ctx, subject, SignatureArtifactType)
	if err != nil {
		return storeFailure(rep, "cannot list the signatures", err)
	}
	var sigs []ocispec.Descriptor
	for _, r := range refs {
		// The store filters by artifact type; this guards against one that
		// does not (an image index holding unrelated manifests).
		if r.ArtifactType == SignatureArtifactType {
			sigs = append(sigs, r)
		}
	}
	if len(sigs) == 0 {
		rep.Message = "no notation signatures found for " + rep.Subject
		return rep
	}
	if len(sigs) > maxSignatures {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s has %d notation signatures; only the first %d were examined", rep.Subject, len(sigs), maxSignatures))
		sigs = sigs[:maxSignatures]
	}

	// The applicable policy is looked up once for the details; notation-go
	// looks it up again per signature and reports its absence itself.
	policy := applicablePolicy(o.TrustPolicy, subject.Name())
	c := &checker{store: store, verifier: v, subject: subject, subjectDesc: subjectDesc, policy: policy}
	// The signatures' manifests and envelopes are fetched at once (bounded),
	// then verified one by one.
	fetched := make([]fetchedSignature, len(sigs))
	oras.Parallel(len(sigs), func(i int) { fetched[i] = c.fetch(ctx, sigs[i]) })
	verified, transient := 0, false
	for i, d := range sigs {
		sig, tr := c.check(ctx, d, fetched[i])
		transient = transient || tr
		if sig.IsSuccess {
			verified++
		}
		rep.Signatures = append(rep.Signatures, sig)
	}
	rep.IsSuccess = verified == len(rep.Signatures)
	if rep.IsSuccess {
		rep.Message = fmt.Sprintf("%d of %d notation signatures verified", verified, len(rep.Signatures))
		return rep
	}
	rep.Transient = transient
	for _, s := range rep.Signatures {
		if !s.IsSuccess {
			rep.Message = s.Error
			break
		}
	}
	return rep
}

func storeFailure(rep report.Report, what string, err error) report.Report {
	rep.Message = what + ": " + oneLine(err.Error())
	rep.Transient = oras.IsTransient(err)
	return rep
}

// checker verifies the signatures of one subject.
type checker struct {
	store       oras.Content
	verifier    notationgo.Verifier
	subject     oras.Reference
	subjectDesc ocispec.Descriptor
	policy      *trustpolicy.TrustPolicy
}

// fetchedSignature is what was read of one signature manifest: its
// envelope's descriptor and bytes, or why they could not be read.
type fetchedSignature struct {
	envDesc   *ocispec.Descriptor
	env       []byte
	failure   string
	transient bool
}

// fetch reads the signature manifest d and the envelope it names.
func (c *checker) fetch(ctx context.Context, d ocispec.Descriptor) (f fetchedSignature) {
	raw, err := c.store.Fetch(ctx, c.subject, d)
	if err != nil {
		f.failure, f.transient = fmt.Sprintf("cannot fetch the signature manifest: %v", err), oras.IsTransient(err)
		return f
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		f.failure = fmt.Sprintf("the signature manifest is not an OCI image manifest: %v", err)
		return f
	}
	for i, l := range m.Layers {
		if l.MediaType == MediaTypeJWS || l.MediaType == MediaTypeCOSE {
			f.envDesc = &m.Layers[i]
			break
		}
	}
	if f.envDesc == nil {
		f.failure = fmt.Sprintf("the signature manifest has no %s or %s layer", MediaTypeJWS, MediaTypeCOSE)
		return f
	}
	if f.env, err = c.store.Fetch(ctx, c.subject, *f.envDesc); err != nil {
		f.failure, f.transient = fmt.Sprintf("cannot fetch the signature envelope: %v", err), oras.IsTransient(err)
	}
	return f
}

// check verifies one signature manifest from what fetch read of it;
// transient says its failure came from the registry and may go away on
// retry.
func (c *checker) check(ctx context.Context, d ocispec.Descriptor, f fetchedSignature) (sig report.Signature, transient bool) {
	sig = report.Signature{Digest: d.Digest.String(), ArtifactType: d.ArtifactType, Details: map[string]any{}}
	if c.policy != nil {
		sig.Details["trustPolicy"] = c.policy.Name
		if level, err := c.policy.SignatureVerification.GetVerificationLevel(); err == nil {
			sig.Details["verificationLevel"] = level.Name
		}
	}
	if f.envDesc != nil {
		sig.Details["signatureMediaType"] = f.envDesc.MediaType
	}
	if f.failure != "" {
		sig.Error = oneLine(f.failure)
		return sig, f.transient
	}
	envDesc, env := f.envDesc, f.env

	outcome, err := c.verifier.Verify(ctx, c.subjectDesc, env, notationgo.VerifierVerifyOptions{
		ArtifactReference:  c.subject.String(),
		SignatureMediaType: envDesc.MediaType,
	})
	if outcome != nil && outcome.Error != nil && err == nil {
		err = outcome.Error
	}
	c.describe(&sig, outcome)
	if err != nil {
		// The certificate subject stays in details only: an identity that
		// did not verify is not a signer a policy should match on.
		sig.Error = oneLine(reason(err, outcome, c))
		return sig, revocationUnknown(outcome)
	}
	sig.IsSuccess = true
	if s, ok := sig.Details["certificateSubject"].(string); ok {
		sig.Signer = s
		delete(sig.Details, "certificateSubject")
	}
	return sig, false
}

// revocationUnknown reports whether the enforced failure is a revocation
// status that could not be learnt (the OCSP responder or CRL endpoint did
// not answer in time): an outage, to retry, never a denial to cache.
func revocationUnknown(outcome *notationgo.VerificationOutcome) bool {
	r := enforcedFailure(outcome)
	return r != nil && r.Type == trustpolicy.TypeRevocation && r.Error != nil &&
		strings.Contains(r.Error.Error(), msgRevocationUnknown)
}

// describe copies what the envelope says into details: signing time and
// scheme, the leaf certificate, and validations that failed without
// failing the signature (levels permissive and audit log them).
func (c *checker) describe(sig *report.Signature, outcome *notationgo.VerificationOutcome) {
	if outcome == nil {
		return
	}
	if outcome.VerificationLevel != nil {
		sig.Details["verificationLevel"] = outcome.VerificationLevel.Name
		if outcome.VerificationLevel.Name == trustpolicy.LevelSkip.Name {
			sig.Details["skipped"] = true
		}
	}
	var logged []any
	for _, r := range outcome.VerificationResults {
		if r != nil && r.Error != nil && r.Action == trustpolicy.ActionLog {
			logged = append(logged, map[string]any{"type": string(r.Type), "error": oneLine(explain(r.Type, r.Error, outcome, c))})
		}
	}
	if logged != nil {
		sig.Details["loggedFailures"] = logged
	}
	if outcome.EnvelopeContent == nil {
		return
	}
	info := outcome.EnvelopeContent.SignerInfo
	attrs := info.SignedAttributes
	sig.Details["signingScheme"] = string(attrs.SigningScheme)
	if !attrs.SigningTime.IsZero() {
		sig.Details["signingTime"] = attrs.SigningTime.UTC().Format(time.RFC3339)
	}
	if !attrs.Expiry.IsZero() {
		sig.Details["expiry"] = attrs.Expiry.UTC().Format(time.RFC3339)
	}
	sig.Details["timestamped"] = len(info.UnsignedAttributes.TimestampSignature) > 0
	if len(info.CertificateChain) > 0 {
		leaf := info.CertificateChain[0]
		sig.Details["certificateSubject"] = leaf.Subject.String()
		sig.Details["issuer"] = leaf.Issuer.String()
		sig.Details["certificateNotAfter"] = leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	if name, err := info.ExtendedAttribute(verifier.HeaderVerificationPlugin); err == nil {
		if s, ok := name.Value.(string); ok {
			sig.Details["verificationPlugin"] = s
		}
	}
}

// signatureIsFor returns the descriptor the signature's payload names.
func signatureIsFor(outcome *notationgo.VerificationOutcome) (ocispec.Descriptor, bool) {
	if outcome == nil || outcome.EnvelopeContent == nil {
		return ocispec.Descriptor{}, false
	}
	var payload struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if err := json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &payload); err != nil {
		return ocispec.Descriptor{}, false
	}
	return payload.TargetArtifact, true
}

// enforcedFailure is the validation that failed the signature, if known.
func enforcedFailure(outcome *notationgo.VerificationOutcome) *notationgo.ValidationResult {
	if outcome == nil {
		return nil
	}
	for _, r := range outcome.VerificationResults {
		if r != nil && r.Error != nil && r.Action == trustpolicy.ActionEnforce {
			return r
		}
	}
	return nil
}

func leafSubject(outcome *notationgo.VerificationOutcome) string {
	if outcome == nil || outcome.EnvelopeContent == nil || len(outcome.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return ""
	}
	return outcome.EnvelopeContent.SignerInfo.CertificateChain[0].Subject.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isType reports whether err, or what it wraps, is a T.
func isType[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}
