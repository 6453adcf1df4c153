// Package cosign is the `cosign.verify(subject, opts)` builtin: it verifies
// the key-based cosign signatures of an image — those at cosign's
// `sha256-<hex>.sig` tag and OCI 1.1 referrers of cosign's signature artifact
// type — reading everything through the oras store, and returns a report.
package cosign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	sigcosign "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/builtins/report"
)

// VerifierName is the report's `verifier`.
const VerifierName = "cosign"

// SimpleSigningMediaType is the media type of a cosign signature layer.
const SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"

// Bounds on what a registry can make us examine: anyone who can push to a
// repository can attach signatures, and admission must stay fast.
const (
	maxSignatureManifests = 64
	maxLayersPerManifest  = 64
	// A simple-signing payload is a few hundred bytes.
	maxPayloadBytes = 1 << 20
)

// Plain-words errors of a signature that does not verify.
const (
	errNoKeyVerifies = "no key verifies the signature"
)

// Source is what cosign verification reads of a registry: the signature
// manifests attached to a subject, and their layers.
type Source interface {
	oras.ReferrerLister
	oras.Fetcher
}

// Verifier verifies cosign signatures with its dependencies.
type Verifier struct {
	// Rekor supplies Rekor's public keys when the options require the
	// transparency log and name none; nil is the process's default cache
	// of cosign's loader.
	Rekor *RekorKeys
}

// Verify verifies the cosign signatures of subject with the default
// Verifier.
func Verify(ctx context.Context, store Source, subject oras.Reference, opts map[string]any) report.Report {
	return Verifier{}.Verify(ctx, store, subject, opts)
}

// Verify verifies the cosign signatures of subject (a reference pinned to a
// digest). It never panics and never fails with a Go error: every failure is
// a report with IsSuccess false.
func (vr Verifier) Verify(ctx context.Context, store Source, subject oras.Reference, opts map[string]any) (rep report.Report) {
	subj := subject.String()
	defer func() {
		if r := recover(); r != nil {
			rep = report.Failure(VerifierName, subj, oneLine(fmt.Sprintf("internal error verifying cosign signatures: %v", r)))
		}
	}()
	o, err := parseOptions(opts, keyMemo(ctx))
	if err != nil {
		return report.Failure(VerifierName, subj, oneLine("invalid cosign.verify options: "+err.Error()))
	}
	fail := func(msg string, transient bool) report.Report {
		r := report.Failure(VerifierName, subj, oneLine(msg))
		r.Warnings, r.Transient = o.Warnings, transient
		return r
	}
	if len(o.Keys) == 0 {
		msg := "no keys to verify with"
		if o.DisabledKeys > 0 {
			msg += fmt.Sprintf(" (%d given, all disabled)", o.DisabledKeys)
		}
		return fail(msg, false)
	}
	if store == nil {
		return fail("no store to read signatures from", false)
	}
	if subject.Digest == "" {
		return fail("the subject "+subj+" is not pinned to a digest; resolve it first (oras.resolve)", false)
	}
	h, err := v1.NewHash(subject.Digest.String())
	if err != nil {
		return fail(fmt.Sprintf("the subject digest %s is not usable: %v", subject.Digest, err), false)
	}

	descs, err := store.Referrers(ctx, subject, oras.CosignSignatureArtifactType)
	if err != nil {
		return fail("listing the cosign signatures of "+subj+": "+err.Error(), oras.IsTransient(err))
	}
	descs = signatureManifests(descs)
	if len(descs) == 0 {
		return fail("no cosign signatures found for "+subj+" (with a .sig tag, the Store needs cosignEnabled: true)", false)
	}
	if len(descs) > maxSignatureManifests {
		o.Warnings = append(o.Warnings, fmt.Sprintf("only the first %d of %d cosign signature manifests were examined", maxSignatureManifests, len(descs)))
		descs = descs[:maxSignatureManifests]
	}

	rekor := vr.Rekor
	if rekor == nil {
		rekor = defaultRekorKeys
	}
	v := &verification{store: store, subject: subject, hash: h, opts: &o, rekor: rekor}
	// The manifests, then the signed payloads they name, are fetched at
	// once (bounded); the signatures are then verified one by one.
	manifests := make([]fetchedManifest, len(descs))
	oras.Parallel(len(descs), func(i int) { manifests[i] = v.fetchManifest(ctx, descs[i]) })
	v.fetchPayloads(ctx, manifests)
	for i, d := range descs {
		v.manifest(ctx, d, manifests[i])
	}
	return v.report(subj)
}

// signatureManifests keeps the descriptors of cosign's artifact type, once
// each: a registry that ignores the artifactType filter may list others, and
// the same manifest may be both the .sig tag and a referrer.
func signatureManifests(descs []ocispec.Descriptor) []ocispec.Descriptor {
	seen := map[string]bool{}
	out := descs[:0:0]
	for _, d := range descs {
		if d.ArtifactType != oras.CosignSignatureArtifactType || seen[d.Digest.String()] {
			continue
		}
		seen[d.Digest.String()] = true
		out = append(out, d)
	}
	return out
}

// verification collects the per-signature results of one Verify call.
type verification struct {
	store     Source
	subject   oras.Reference
	hash      v1.Hash
	opts      *Options
	rekor     *RekorKeys
	sigs      []report.Signature
	transient bool
}

// fetchedManifest is what was read of one signature manifest: the
// manifest and the payloads of the layers verified (by layer index), or
// why the manifest could not be read.
type fetchedManifest struct {
	m         *ocispec.Manifest
	failure   string
	transient bool
	payloads  map[int]fetchedPayload
}

type payloadKey struct {
	digest digest.Digest
	size   int64
}

type fetchedPayload struct {
	body []byte
	err  error
}

// fetchManifest reads and decodes the signature manifest desc.
func (v *verification) fetchManifest(ctx context.Context, desc ocispec.Descriptor) fetchedManifest {
	raw, err := v.store.Fetch(ctx, v.subject, desc)
	if err != nil {
		return fetchedManifest{failure: "cannot fetch the signature manifest: " + err.Error(), transient: oras.IsTransient(err)}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fetchedManifest{failure: "the signature manifest is not an image manifest: " + err.Error()}
	}
	return fetchedManifest{m: &m}
}

// signatureLayers are the indexes of the simple-signing layers of m that
// are verified, and how many there are in all.
func signatureLayers(m *ocispec.Manifest) (layers []int, all int) {
	for i, l := range m.Layers {
		if l.MediaType == SimpleSigningMediaType {
			layers = append(layers, i)
		}
	}
	all = len(layers)
	if len(layers) > maxLayersPerManifest {
		layers = layers[:maxLayersPerManifest]
	}
	return layers, all
}

// fetchPayloads reads, at once (bounded), the payload of every layer that
// layer will verify: those whose signature annotation can be checked.
func (v *verification) fetchPayloads(ctx context.Context, manifests []fetchedManifest) {
	type job struct{ manifest, layer, fetch int }
	var (
		jobs    []job
		fetches []ocispec.Descriptor
		// A payload named twice (the same signature in two manifests) is
		// read once, as the store's content cache would have it.
		seen = map[payloadKey]int{}
	)
	for i := range manifests {
		fm := &manifests[i]
		if fm.m == nil {
			continue
		}
		fm.payloads = map[int]fetchedPayload{}
		layers, _ := signatureLayers(fm.m)
		for _, l := range layers {
			d := fm.m.Layers[l]
			if checkLayer(d) != "" {
				continue
			}
			key := payloadKey{d.Digest, d.Size}
			k, ok := seen[key]
			if !ok {
				k = len(fetches)
				seen[key] = k
				fetches = append(fetches, d)
			}
			jobs = append(jobs, job{i, l, k})
		}
	}
	got := make([]fetchedPayload, len(fetches))
	oras.Parallel(len(fetches), func(k int) {
		got[k].body, got[k].err = v.store.Fetch(ctx, v.subject, fetches[k])
	})
	for _, j := range jobs {
		manifests[j.manifest].payloads[j.layer] = got[j.fetch]
	}
}

// manifest verifies every simple-signing layer of one signature manifest,
// from what was fetched of it.
func (v *verification) manifest(ctx context.Context, desc ocispec.Descriptor, fm fetchedManifest) {
	entry := func() report.Signature {
		return report.Signature{Digest: desc.Digest.String(), ArtifactType: desc.ArtifactType}
	}
	failed := func(err string) {
		s := entry()
		s.Error = oneLine(err)
		v.sigs = append(v.sigs, s)
	}
	if fm.m == nil {
		v.transient = v.transient || fm.transient
		failed(fm.failure)
		return
	}
	m := fm.m
	layers, all := signatureLayers(m)
	if len(layers) == 0 {
		failed("the signature manifest has no " + SimpleSigningMediaType + " layer")
		return
	}
	if all > len(layers) {
		v.opts.Warnings = append(v.opts.Warnings, fmt.Sprintf("signature manifest %s: only the first %d of %d signatures were examined", desc.Digest, maxLayersPerManifest, all))
	}
	for _, i := range layers {
		s := entry()
		if len(m.Layers) > 1 {
			s.Details = map[string]any{"layer": i}
		}
		p, fetched := fm.payloads[i]
		v.layer(ctx, m.Layers[i], p, fetched, &s)
		s.Error = oneLine(s.Error)
		v.sigs = append(v.sigs, s)
	}
}

// checkLayer says what makes a signature layer unverifiable before its
// payload is read ("" for nothing).
func checkLayer(layer ocispec.Descriptor) string {
	b64sig := layer.Annotations[static.SignatureAnnotationKey]
	if b64sig == "" {
		return "the signature layer has no " + static.SignatureAnnotationKey + " annotation"
	}
	if _, err := base64.StdEncoding.DecodeString(b64sig); err != nil {
		return "the " + static.SignatureAnnotationKey + " annotation is not base64: " + err.Error()
	}
	if layer.Size > maxPayloadBytes {
		return fmt.Sprintf("the signed payload is %d bytes, at most %d", layer.Size, maxPayloadBytes)
	}
	return ""
}

// layer verifies one signature: the payload blob (fetched, unless the
// layer was refused before) with the signature in its descriptor's
// annotations.
func (v *verification) layer(ctx context.Context, layer ocispec.Descriptor, p fetchedPayload, fetched bool, s *report.Signature) {
	detail := func(k string, val any) {
		if s.Details == nil {
			s.Details = map[string]any{}
		}
		s.Details[k] = val
	}
	if msg := checkLayer(layer); msg != "" {
		s.Error = msg
		return
	}
	if !fetched {
		s.Error = "the signed payload was not read" // never: fetchPayloads reads every layer checkLayer passes
		return
	}
	b64sig := layer.Annotations[static.SignatureAnnotationKey]
	body, err := p.body, p.err
	if err != nil {
		v.transient = v.transient || oras.IsTransient(err)
		s.Error = "cannot fetch the signed payload: " + err.Error()
		return
	}
	sig, err := v.signature(body, b64sig, layer.Annotations)
	if err != nil {
		s.Error = err.Error()
		return
	}

	key, sch, err := v.findKey(ctx, sig)
	if err != nil {
		s.Error = err.Error()
		if key != nil {
			detail("key", key.Signer) // the key verified the bytes, not the claim
		}
		return
	}
	detail("keyAlgorithm", key.Algorithm)
	detail("signatureScheme", sch.name)
	detail("tlogVerified", false)
	if v.opts.TLog {
		if err := v.checkTlog(ctx, sig, sch); err != nil {
			s.Error = err.Error()
			return
		}
		detail("tlogVerified", true)
	}
	s.IsSuccess, s.Signer = true, key.Signer
}

// signature builds cosign's view of the layer. The certificate and chain
// annotations are kept so cosign applies its usual checks to them; the
// Rekor bundle is read only when the transparency log is required, so a
// malformed bundle cannot fail a key-only policy.
func (v *verification) signature(body []byte, b64sig string, ann map[string]string) (oci.Signature, error) {
	var sopts []static.Option
	if cert := ann[static.CertificateAnnotationKey]; cert != "" {
		if _, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(cert)); err != nil {
			return nil, fmt.Errorf("the %s annotation is not a PEM certificate: %v", static.CertificateAnnotationKey, err)
		}
		chain := ann[static.ChainAnnotationKey]
		if chain != "" {
			if _, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(chain)); err != nil {
				return nil, fmt.Errorf("the %s annotation is not a PEM certificate chain: %v", static.ChainAnnotationKey, err)
			}
		}
		sopts = append(sopts, static.WithCertChain([]byte(cert), []byte(chain)))
	}
	if b := ann[static.BundleAnnotationKey]; b != "" && v.opts.TLog {
		var rb bundle.RekorBundle
		if err := json.Unmarshal([]byte(b), &rb); err != nil {
			return nil, fmt.Errorf("the transparency log bundle (%s annotation) is malformed: %v", static.BundleAnnotationKey, err)
		}
		if _, ok := rb.Payload.Body.(string); !ok {
			// cosign asserts the body is a string and would panic.
			return nil, fmt.Errorf("the transparency log bundle (%s annotation) has no entry body", static.BundleAnnotationKey)
		}
		sopts = append(sopts, static.WithBundle(&rb))
	}
	return static.NewSignature(body, b64sig, sopts...)
}

// claimError is a signature that verifies with a key but whose payload does
// not name the subject: a signature of another image copied here.
type claimError struct{ msg string }

func (e *claimError) Error() string { return e.msg }

// checkClaim is cosign's SimpleClaimVerifier with an error that says which
// image the signature is for.
func checkClaim(sig oci.Signature, h v1.Hash, _ map[string]any) error {
	p, err := sig.Payload()
	if err != nil {
		return &claimError{"cannot read the signed payload: " + err.Error()}
	}
	var sci payload.SimpleContainerImage
	if err := json.Unmarshal(p, &sci); err != nil {
		return &claimError{"the signed payload is not a cosign simple-signing document: " + err.Error()}
	}
	found := sci.Critical.Image.DockerManifestDigest
	if found == "" {
		return &claimError{"the signed payload names no image digest"}
	}
	if found != h.String() {
		return &claimError{fmt.Sprintf("the signature is for %s, not %s", truncate(found, 100), h)}
	}
	return nil
}

// findKey tries every key and scheme until one verifies the signature and
// the payload claims the subject. The transparency log is checked apart
// (checkTlog), so a bundle made with one key does not hide that another
// key verifies.
func (v *verification) findKey(ctx context.Context, sig oci.Signature) (*Key, *scheme, error) {
	for i := range v.opts.Keys {
		k := &v.opts.Keys[i]
		for j := range k.schemes {
			sch := &k.schemes[j]
			_, err := sigcosign.VerifyImageSignature(ctx, sig, v.hash, &sigcosign.CheckOpts{
				SigVerifier:   sch.verifier,
				IgnoreTlog:    true,
				ClaimVerifier: checkClaim,
			})
			var ce *claimError
			switch {
			case err == nil:
				return k, sch, nil
			case errors.As(err, &ce):
				// The bytes are signed by this key, so no other key can
				// change the verdict on what was signed.
				return k, sch, ce
			}
		}
	}
	return nil, nil, errors.New(errNoKeyVerifies)
}

// checkTlog requires a Rekor bundle on the signature, verified offline with
// Rekor's public keys, as `cosign verify` does without --insecure-ignore-tlog.
func (v *verification) checkTlog(ctx context.Context, sig oci.Signature, sch *scheme) error {
	if b, _ := sig.Bundle(); b == nil {
		return errors.New("the transparency log cannot be verified: the signature carries no Rekor bundle (" +
			static.BundleAnnotationKey + "); it was likely signed with --tlog-upload=false, which needs tlog: false")
	}
	keys := v.opts.RekorPublicKeys
	if keys == nil {
		var err error
		if keys, err = v.rekor.Get(ctx); err != nil {
			v.transient = true
			return err
		}
	}
	verified, err := sigcosign.VerifyImageSignature(ctx, sig, v.hash, &sigcosign.CheckOpts{
		SigVerifier:   sch.verifier,
		RekorPubKeys:  keys,
		Offline:       true, // never look the entry up online: the bundle must prove it
		ClaimVerifier: checkClaim,
	})
	if err != nil {
		return fmt.Errorf("the transparency log bundle does not verify: %v", err)
	}
	if !verified {
		return errors.New("the transparency log bundle was not verified")
	}
	return nil
}

// report sums up the per-signature results.
func (v *verification) report(subj string) report.Report {
	r := report.Report{Verifier: VerifierName, Subject: subj, Signatures: v.sigs, Warnings: v.opts.Warnings}
	ok := 0
	var firstFailure string
	for _, s := range v.sigs {
		if s.IsSuccess {
			ok++
			continue
		}
		if firstFailure == "" {
			firstFailure = "signature " + s.Digest
			if l, has := s.Details["layer"]; has {
				firstFailure += fmt.Sprintf(" (layer %v)", l)
			}
			firstFailure += ": " + s.Error
		}
	}
	r.IsSuccess = len(v.sigs) > 0 && ok == len(v.sigs)
	r.Message = fmt.Sprintf("%d of %d cosign signatures verified", ok, len(v.sigs))
	if !r.IsSuccess {
		r.Message = oneLine(firstFailure + " (" + r.Message + ")")
		r.Transient = v.transient
	}
	return r
}

// oneLine keeps a message on one line: store and crypto errors may carry
// newlines, and reports are read in logs and kubectl output.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
