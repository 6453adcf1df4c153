package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
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
func buildKMP(res *config.Resources, ownNS string) (*kmp.Registry, error) {
	reg := kmp.NewRegistry()
	add := func(kind, ns, name, typ string, raw json.RawMessage) error {
		err := reg.Add(ns, name, typ, raw)
		if errors.Is(err, kmp.ErrDuplicate) {
			return fmt.Errorf("%s %s: %w", kind, kmp.Ref(ns, name), err)
		}
		if err != nil {
			reg.Warn(err.Error())
		}
		return nil
	}
	for _, k := range res.KMPs {
		if err := add("KeyManagementProvider", "", k.Name, k.Spec.Type, k.Spec.Parameters.Raw); err != nil {
			return nil, err
		}
	}
	for _, k := range res.NamespacedKMPs {
		if err := add("NamespacedKeyManagementProvider", config.Namespace(k.Namespace), k.Name, k.Spec.Type, k.Spec.Parameters.Raw); err != nil {
			return nil, err
		}
	}
	for _, cs := range res.CertificateStores {
		ns := cs.Namespace
		if ns == "" {
			ns = ownNS
		}
		reg.Warn(fmt.Sprintf("CertificateStore %s/%s is deprecated: use a KeyManagementProvider of type inline with contentType: certificate", ns, cs.Name))
		p, err := certificateStore(cs.Name, cs.Spec.Provider, cs.Spec.Parameters.Raw)
		if err != nil {
			reg.Warn(err.Error())
		}
		if err := reg.AddProvider(ns, cs.Name, p); err != nil {
			return nil, fmt.Errorf("CertificateStore %s/%s: %w", ns, cs.Name, err)
		}
		if ns != ownNS {
			continue
		}
		if err := reg.AddProvider("", cs.Name, p); err != nil {
			return nil, fmt.Errorf("CertificateStore %s/%s in ratify's namespace is also named %q, which a KeyManagementProvider already is: rename one of them: %w", ns, cs.Name, cs.Name, err)
		}
	}
	return reg, nil
}

// certificateStore builds the deprecated CertificateStore's provider.
func certificateStore(name, provider string, raw json.RawMessage) (kmp.Provider, error) {
	if provider != "inline" {
		return kmp.Failing(fmt.Errorf("CertificateStore %s: provider %q is not supported (supported: inline)", name, provider)),
			fmt.Errorf("CertificateStore %s: provider %q is not supported", name, provider)
	}
	var p struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		err = fmt.Errorf("CertificateStore %s: parameters: %w", name, err)
		return kmp.Failing(err), err
	}
	prov, err := kmp.NewInlineCertificates(name, p.Value)
	if err != nil {
		err = fmt.Errorf("CertificateStore %s: %w", name, err)
		return kmp.Failing(err), err
	}
	return prov, nil
}
