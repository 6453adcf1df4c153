package config

import (
	"fmt"

	"github.com/seed-12b584bc/ratify/builtins/oras"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// StoreConfigs turns the Store resources into store configurations.
func (res *Resources) StoreConfigs() ([]oras.Config, error) {
	var out []oras.Config
	for _, s := range res.Stores {
		cfg, err := StoreConfig(s)
		if err != nil {
			return nil, err
		}
		out = append(out, cfg)
	}
	return out, nil
}

// StoreConfig is the configuration of one Store: its parameters decoded
// and validated (v1beta1), then built by the oras family from plain values.
func StoreConfig(s v1beta1.Store) (oras.Config, error) {
	p, _, err := s.Spec.StoreParameters()
	if err != nil {
		return oras.Config{}, fmt.Errorf("store %q: %w", s.Name, err)
	}
	return oras.NewConfig(s.Name, s.Spec.Name, storeSettings(p))
}

func storeSettings(p v1beta1.StoreParameters) oras.StoreSettings {
	s := oras.StoreSettings{
		CosignEnabled:     p.CosignEnabled,
		UseHTTP:           p.UseHTTP,
		CAFile:            p.CAFile,
		ReferrersCacheTTL: p.ReferrersCacheTTL,
		Path:              p.Path,
		Scopes:            p.Scopes,
	}
	if a := p.AuthProvider; a != nil {
		s.Auth = &oras.AuthSettings{
			Name: a.Name, ConfigPath: a.ConfigPath, Username: a.Username, Password: a.Password, Hosts: a.Hosts,
			ClientID: a.ClientID, Endpoints: a.Endpoints, DisableInstanceDiscovery: a.DisableInstanceDiscovery,
		}
	}
	return s
}
