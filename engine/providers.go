package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/engine/config"
)

// buildKMP registers the key management providers of res. A provider that
// cannot be built is registered as failing (its users are denied with the
// reason); two resources claiming one name are a configuration error.
//
// CertificateStores are namespaced: each is `namespace/name`, so a tenant's
// cannot stand in for the cluster's provider of the same name. As in Ratify,
// those of ratify's own namespace (ownNS) may also be named without a
// namespace, since only the operator writes there; a CertificateStore
// without a namespace (a resources file) is taken to be in ownNS.
//
// providers, when set, keeps providers across builds (see providerCache).
func buildKMP(ctx context.Context, res *config.Resources, ownNS string, providers *providerCache, o ProviderOptions) (*kmp.Registry, error) {
	reg := kmp.NewRegistry()
	add := func(kind, ns, name string, spec v1beta1.KeyManagementProviderSpec) error {
		err := addKMP(ctx, reg, ns, name, spec, providers, o)
		if errors.Is(err, kmp.ErrDuplicate) {
			return fmt.Errorf("%s %s: %w", kind, kmp.Ref(ns, name), err)
		}
		if err != nil {
			reg.Warn(err.Error())
		}
		return nil
	}
	for _, k := range res.KMPs {
		if err := add("KeyManagementProvider", "", k.Name, k.Spec); err != nil {
			return nil, err
		}
	}
	for _, k := range res.NamespacedKMPs {
		if err := add("NamespacedKeyManagementProvider", config.Namespace(k.Namespace), k.Name, k.Spec); err != nil {
			return nil, err
		}
	}
	for _, cs := range res.CertificateStores {
		ns := cs.Namespace
		if ns == "" {
			ns = ownNS
		}
		reg.Warn(fmt.Sprintf("CertificateStore %s/%s is deprecated: use a KeyManagementProvider of type inline with contentType: certificate", ns, cs.Name))
		p, err := certificateStore(cs.Name, cs.Spec)
		if err != nil {
			reg.Warn(err.Error())
		}
		// A key management provider of the same name takes precedence, as
		// in Ratify: the CertificateStore is left out, and the rest of the
		// configuration still builds (a name clash must not hold back a
		// change that removes trust).
		if err := reg.AddProvider(ns, cs.Name, p); err != nil {
			reg.Warn(fmt.Sprintf("CertificateStore %s/%s is ignored: a NamespacedKeyManagementProvider of the same name takes precedence (%v)", ns, cs.Name, err))
			continue
		}
		if ns != ownNS {
			continue
		}
		if err := reg.AddProvider("", cs.Name, p); err != nil {
			reg.Warn(fmt.Sprintf("CertificateStore %s/%s in ratify's namespace is not known by its name alone: the KeyManagementProvider %s takes precedence; Verifiers naming %q get that provider (%v)", ns, cs.Name, cs.Name, cs.Name, err))
		}
	}
	return reg, nil
}

// ProviderOptions configure the key management providers that reach a
// service.
type ProviderOptions struct {
	// Azure are the Azure SDK's client options (transport, cloud) for the
	// Key Vault provider and its credential; nil: the SDK's defaults.
	Azure *azcore.ClientOptions
	// ObserveKeyVault is told how long each Key Vault read took (metrics).
	ObserveKeyVault func(d time.Duration, err error)
	Logger          *slog.Logger
}

// kmpTypes builds the provider of each supported KeyManagementProvider
// type from its resource. A new provider type adds its parameters to
// crds/v1beta1 (params_kmp.go), its provider to builtins/kmp, and one
// entry here.
var kmpTypes = map[string]func(ref string, spec v1beta1.KeyManagementProviderSpec, o ProviderOptions) (kmp.Provider, error){
	v1beta1.KMPInline: func(ref string, spec v1beta1.KeyManagementProviderSpec, _ ProviderOptions) (kmp.Provider, error) {
		p, _, err := spec.InlineParameters()
		if err != nil {
			return nil, err
		}
		return kmp.NewInline(ref, p.ContentType, p.Value)
	},
	v1beta1.KMPAzureKeyVault: func(ref string, spec v1beta1.KeyManagementProviderSpec, o ProviderOptions) (kmp.Provider, error) {
		p, _, err := spec.AzureKeyVaultParameters()
		if err != nil {
			return nil, err
		}
		// A tenant names the vault of its NamespacedKeyManagementProvider:
		// without the challenge check, a host of its choosing could ask for
		// ratify's Key Vault token and receive it.
		if strings.Contains(ref, "/") && p.DisableChallengeResourceVerification {
			return nil, errors.New("spec.parameters.disableChallengeResourceVerification is allowed only on a cluster KeyManagementProvider: on a namespaced one, the vault host its tenant names could receive ratify's Key Vault token")
		}
		objects := func(vs []v1beta1.KeyVaultValue) []kmp.KeyVaultObject {
			out := make([]kmp.KeyVaultObject, len(vs))
			for i, v := range vs {
				out[i] = kmp.KeyVaultObject{Name: v.Name, Version: v.Version}
			}
			return out
		}
		cfg := kmp.AzureKeyVaultConfig{
			VaultURI: p.VaultURI, TenantID: p.TenantID, ClientID: p.ClientID,
			Certificates: objects(p.Certificates), Keys: objects(p.Keys),
			DisableChallengeResourceVerification: p.DisableChallengeResourceVerification,
			ClientOptions:                        o.Azure, Observe: o.ObserveKeyVault, Logger: o.Logger,
		}
		if p.VersionHistoryLimit != nil {
			cfg.VersionHistoryLimit = *p.VersionHistoryLimit
		}
		return kmp.NewAzureKeyVault(ref, cfg)
	},
}

// addKMP registers the provider of one KeyManagementProvider resource. One
// that cannot be built is registered as failing with the error it returns,
// so its users are denied with the reason.
func addKMP(ctx context.Context, reg *kmp.Registry, ns, name string, spec v1beta1.KeyManagementProviderSpec, providers *providerCache, o ProviderOptions) error {
	ref := kmp.Ref(ns, name)
	var (
		p   kmp.Provider
		err error
	)
	if build, ok := kmpTypes[spec.Type]; ok {
		p, err = providers.get(ctx, ref, spec, func() (kmp.Provider, error) { return build(ref, spec, o) })
	} else {
		err = fmt.Errorf("%w %q (supported: %s)", kmp.ErrUnsupportedType, spec.Type, strings.Join(slices.Sorted(maps.Keys(kmpTypes)), ", "))
		// A type ratify knows the parameters of has them checked, so a
		// mistake is reported before the provider exists.
		if _, _, verr := v1beta1.KMPParameters(spec); verr != nil {
			reg.Warn(fmt.Sprintf("key management provider %s: %v", ref, verr))
		}
	}
	if err != nil {
		err = fmt.Errorf("key management provider %s: %w", ref, err)
		p = kmp.Failing(err)
	}
	if aerr := reg.AddProvider(ns, name, p); aerr != nil {
		return aerr // a duplicate: a configuration error, whatever the build gave
	}
	return err
}

// certificateStore builds the deprecated CertificateStore's provider.
func certificateStore(name string, spec v1beta1.CertificateStoreSpec) (kmp.Provider, error) {
	if spec.Provider != v1beta1.KMPInline {
		return kmp.Failing(fmt.Errorf("CertificateStore %s: provider %q is not supported (supported: inline)", name, spec.Provider)),
			fmt.Errorf("CertificateStore %s: provider %q is not supported", name, spec.Provider)
	}
	p, _, err := spec.InlineParameters()
	if err != nil {
		err = fmt.Errorf("CertificateStore %s: %w", name, err)
		return kmp.Failing(err), err
	}
	prov, err := kmp.NewInlineCertificates(name, p.Value)
	if err != nil {
		err = fmt.Errorf("CertificateStore %s: %w", name, err)
		return kmp.Failing(err), err
	}
	return prov, nil
}
