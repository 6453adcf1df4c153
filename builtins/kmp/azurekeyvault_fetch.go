package kmp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// fetchKey returns the key o, and without a pinned version the enabled
// versions before the latest, within the history limit.
func (a *AzureKeyVault) fetchKey(ctx context.Context, o KeyVaultObject) ([]Key, error) {
	latest, created, err := a.getKey(ctx, o.Name, o.Version)
	if err != nil {
		return nil, err
	}
	out := []Key{latest}
	if o.Version != "" || a.limit < 2 {
		return out, nil
	}
	older, err := a.history(ctx, "key", o.Name, latest.Version, created, a.keyVersions)
	if err != nil {
		return nil, err
	}
	for _, v := range older {
		k, _, err := a.getKey(ctx, o.Name, v)
		if errors.Is(err, ErrDisabled) {
			continue // disabled since it was listed: no longer trusted
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// getKey fetches one version ("" is the latest) of a key.
func (a *AzureKeyVault) getKey(ctx context.Context, name, version string) (Key, *time.Time, error) {
	resp, err := a.keyClient.GetKey(ctx, name, version, nil)
	if err != nil {
		if isDisabledAnswer(err, "KeyDisabled") {
			return Key{}, nil, disabled("key", name, a.versionLabel(ctx, version, name, a.keyVersions))
		}
		return Key{}, nil, vaultError("key", name, version, err)
	}
	if resp.Key == nil {
		return Key{}, nil, fmt.Errorf("key %s: %w: the vault's answer has no key", name, ErrBadContent)
	}
	v := version
	if resp.Key.KID != nil {
		v = resp.Key.KID.Version()
	}
	var created *time.Time
	if at := resp.Attributes; at != nil {
		created = at.Created
		if at.Enabled != nil && !*at.Enabled {
			return Key{}, nil, disabled("key", name, v)
		}
	}
	pub, err := publicKeyFromJWK(resp.Key)
	if err != nil {
		return Key{}, nil, fmt.Errorf("key %s version %s: %w", name, v, err)
	}
	k, err := publicKey(a.ref, pub)
	if err != nil {
		return Key{}, nil, fmt.Errorf("key %s version %s: %w", name, v, err)
	}
	k.Name, k.Version = name, v
	return k, created, nil
}

// fetchCertificate returns the chain of certificate o from its secret, and
// without a pinned version the chains of the enabled versions before the
// latest, within the history limit.
func (a *AzureKeyVault) fetchCertificate(ctx context.Context, o KeyVaultObject) ([]Certificate, error) {
	latest, version, created, err := a.getChain(ctx, o.Name, o.Version)
	if err != nil {
		return nil, err
	}
	if o.Version != "" || a.limit < 2 {
		return latest, nil
	}
	older, err := a.history(ctx, "certificate", o.Name, version, created, a.secretVersions)
	if err != nil {
		return nil, err
	}
	for _, v := range older {
		chain, _, _, err := a.getChain(ctx, o.Name, v)
		if errors.Is(err, ErrDisabled) {
			continue
		}
		if err != nil {
			return nil, err
		}
		latest = append(latest, chain...)
	}
	return latest, nil
}

// getChain fetches one version ("" is the latest) of a certificate's
// secret and returns its certificates, private keys left out.
func (a *AzureKeyVault) getChain(ctx context.Context, name, version string) ([]Certificate, string, *time.Time, error) {
	resp, err := a.secretClient.GetSecret(ctx, name, version, nil)
	if err != nil {
		if isDisabledAnswer(err, "SecretDisabled") {
			return nil, "", nil, disabled("certificate", name, a.versionLabel(ctx, version, name, a.secretVersions))
		}
		if status(err) == 403 && a.keyNotExportable(ctx, name, version) {
			return nil, "", nil, nonExportableError(name, version, "reading its secret is forbidden")
		}
		return nil, "", nil, vaultError("certificate", name, version, err)
	}
	s := resp.Secret
	v := version
	if s.ID != nil {
		v = s.ID.Version()
	}
	var created *time.Time
	if at := s.Attributes; at != nil {
		created = at.Created
		if at.Enabled != nil && !*at.Enabled {
			return nil, "", nil, disabled("certificate", name, v)
		}
	}
	chain, keys, err := certificatesFromSecret(deref(s.ContentType), deref(s.Value))
	if err != nil {
		if errors.Is(err, errPKCS12) && a.keyNotExportable(ctx, name, v) {
			return nil, "", nil, nonExportableError(name, v, "its PKCS#12 secret holds no private key, and Go reads no such file")
		}
		return nil, "", nil, fmt.Errorf("certificate %s version %s: %w", name, v, err)
	}
	if keys > 0 {
		a.log.Warn("the certificate's secret holds its private key, which ratify does not keep; create the certificate with a non-exportable key",
			"certificate", name, "version", v)
	}
	out := make([]Certificate, 0, len(chain))
	for _, c := range chain {
		out = append(out, Certificate{
			Provider: a.ref, Name: name, Version: v, Enabled: true,
			Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter.UTC(),
			PEM: certificatePEM(c),
		})
	}
	return out, v, created, nil
}

// keyNotExportable tells whether the certificate's policy marks its key not
// exportable. It is asked only once the secret failed, to say what to do;
// an identity without certificates/get permission gets false.
func (a *AzureKeyVault) keyNotExportable(ctx context.Context, name, version string) bool {
	resp, err := a.certClient.GetCertificate(ctx, name, version, nil)
	if err != nil {
		return false
	}
	p := resp.Policy
	return p != nil && p.KeyProperties != nil && p.KeyProperties.Exportable != nil && !*p.KeyProperties.Exportable
}

func nonExportableError(name, version, why string) error {
	if version == "" {
		version = "latest"
	}
	return fmt.Errorf("certificate %s version %s: %w: its key is not exportable and %s; "+
		"give the chain's root certificate through an inline key management provider (contentType: certificate) instead",
		name, version, ErrNonExportable, why)
}

func disabled(kind, name, version string) error {
	return fmt.Errorf("%s %s version %s is %w (enable that version again, or remove the reference from spec.parameters.%ss)", kind, name, version, ErrDisabled, kind)
}

// versionLabel names the version a disabled answer was about: the pinned
// one, else the newest listed (the vault's answer does not say).
func (a *AzureKeyVault) versionLabel(ctx context.Context, version, name string, list versionLister) string {
	if version != "" {
		return version
	}
	vs, err := list(ctx, name)
	if err != nil || len(vs) == 0 {
		return "(latest)"
	}
	sortNewestFirst(vs)
	return vs[0].version
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
