package kmp_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/builtins/kmp"
	"github.com/seed-12b584bc/ratify/internal/sample"
	"github.com/seed-12b584bc/ratify/test/keyvaultsim"
)

// A pinned version never moves; without one, the latest and the enabled
// versions just before it are trusted, up to the history limit.
func TestAzureKeyVaultVersions(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{PageSize: 1}) // listings take several pages
	v1 := createKey(t, v, "cosign-key")
	pinned := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key", Version: v1}}})
	latest := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key"}}})
	only := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key"}}, VersionHistoryLimit: 1})
	three := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key"}}, VersionHistoryLimit: 3})
	all := []*kmp.AzureKeyVault{pinned, latest, only, three}
	for _, a := range all {
		refresh(t, a)
	}
	wantVersions(t, "latest of one version", keyVersions(t, latest), "cosign-key/"+v1)
	before := pinned.Version()

	v2 := createKey(t, v, "cosign-key")
	for _, a := range all {
		refresh(t, a)
	}
	wantVersions(t, "pinned after a rotation", keyVersions(t, pinned), "cosign-key/"+v1)
	if pinned.Version() != before {
		t.Errorf("the pinned provider's version moved though its material did not")
	}
	wantVersions(t, "latest after a rotation", keyVersions(t, latest), "cosign-key/"+v2, "cosign-key/"+v1)
	if latest.Version() == before {
		t.Errorf("version did not change with the material")
	}
	wantVersions(t, "limit 1 after a rotation", keyVersions(t, only), "cosign-key/"+v2)

	v3 := createKey(t, v, "cosign-key")
	for _, a := range all {
		refresh(t, a)
	}
	wantVersions(t, "pinned after two rotations", keyVersions(t, pinned), "cosign-key/"+v1)
	wantVersions(t, "latest after two rotations", keyVersions(t, latest), "cosign-key/"+v3, "cosign-key/"+v2)
	wantVersions(t, "limit 3 after two rotations", keyVersions(t, three), "cosign-key/"+v3, "cosign-key/"+v2, "cosign-key/"+v1)

	// A disabled older version is no longer trusted, and does not let an
	// even older one back into the window.
	if err := v.SetEnabled(keyvaultsim.Keys, "cosign-key", v2, false); err != nil {
		t.Fatal(err)
	}
	refresh(t, latest)
	wantVersions(t, "latest with the previous version disabled", keyVersions(t, latest), "cosign-key/"+v3)
	refresh(t, three)
	wantVersions(t, "limit 3 with the middle version disabled", keyVersions(t, three), "cosign-key/"+v3, "cosign-key/"+v1)

	// Without the list permission only the latest is trusted.
	if err := v.SetEnabled(keyvaultsim.Keys, "cosign-key", v2, true); err != nil {
		t.Fatal(err)
	}
	v.Forbid(keyvaultsim.Keys, "list", true)
	refresh(t, latest)
	wantVersions(t, "latest without list permission", keyVersions(t, latest), "cosign-key/"+v3)
}

// A certificate rotated keeps its previous chain trusted, through the
// secret's versions.
func TestAzureKeyVaultCertificateHistory(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	ca, err := sample.NewPKI(sample.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "notation"}}})
	for i := range 3 {
		c, err := v.CreateCertificate("notation", keyvaultsim.CertificateOptions{CA: ca, ContentType: keyvaultsim.ContentTypePEM})
		if err != nil {
			t.Fatal(err)
		}
		versions = append([]string{c.Version}, versions...)
		refresh(t, a)
		got, err := a.Certificates(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, g := range got {
			if len(seen) == 0 || seen[len(seen)-1] != g.Version {
				seen = append(seen, g.Version)
			}
		}
		want := versions[:min(i+1, 2)]
		if !slices.Equal(seen, want) || len(got) != 2*len(want) {
			t.Errorf("after %d versions: versions %q (%d certificates), want %q", i+1, seen, len(got), want)
		}
	}
}

// Disabled means fail: a configured version disabled in the vault fails
// the provider, naming it, until it is enabled again.
func TestAzureKeyVaultDisabled(t *testing.T) {
	for _, forbidden := range []bool{false, true} {
		v := keyvaultsim.Start(t, keyvaultsim.Options{DisabledKeysForbidden: forbidden})
		ver := createKey(t, v, "cosign-key")
		cert, err := v.CreateCertificate("notation", keyvaultsim.CertificateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			kind        keyvaultsim.Kind
			name, ver   string
			pinned      bool
			cfg         kmp.AzureKeyVaultConfig
			wantMessage string
		}{
			{keyvaultsim.Keys, "cosign-key", ver, true, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key", Version: ver}}},
				"key cosign-key version " + ver + " is disabled in the vault"},
			{keyvaultsim.Keys, "cosign-key", ver, false, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "cosign-key"}}},
				"key cosign-key version " + ver + " is disabled in the vault"},
			{keyvaultsim.Certificates, "notation", cert.Version, true, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "notation", Version: cert.Version}}},
				"certificate notation version " + cert.Version + " is disabled in the vault"},
			{keyvaultsim.Certificates, "notation", cert.Version, false, kmp.AzureKeyVaultConfig{Certificates: []kmp.KeyVaultObject{{Name: "notation"}}},
				"certificate notation version " + cert.Version + " is disabled in the vault"},
		} {
			a := newAKV(t, v, c.cfg)
			refresh(t, a)
			good := a.Version()
			if err := v.SetEnabled(c.kind, c.name, c.ver, false); err != nil {
				t.Fatal(err)
			}
			err := a.Refresh(context.Background())
			if !errors.Is(err, kmp.ErrDisabled) || errors.Is(err, kmp.ErrTransient) || !strings.Contains(err.Error(), c.wantMessage) {
				t.Errorf("%s pinned %v (forbidden %v): %v", c.name, c.pinned, forbidden, err)
			}
			_, kerr := a.Keys(context.Background())
			_, cerr := a.Certificates(context.Background())
			if !errors.Is(kerr, kmp.ErrDisabled) || !errors.Is(cerr, kmp.ErrDisabled) {
				t.Errorf("%s: Keys %v, Certificates %v after it was disabled", c.name, kerr, cerr)
			}
			if a.Version() == good {
				t.Errorf("%s: version unchanged though the material is gone", c.name)
			}
			if err := v.SetEnabled(c.kind, c.name, c.ver, true); err != nil {
				t.Fatal(err)
			}
			refresh(t, a)
			if a.Version() != good {
				t.Errorf("%s: re-enabled, version %s, want %s", c.name, a.Version(), good)
			}
		}
	}
}

// The guide's rotation of a cosign key, each step a new configuration of
// the KeyManagementProvider.
func TestAzureKeyVaultGuideRotation(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	keyVer := createKey(t, v, "cosign-key")
	provider := func(versions ...string) *kmp.AzureKeyVault {
		var objs []kmp.KeyVaultObject
		for _, ver := range versions {
			objs = append(objs, kmp.KeyVaultObject{Name: "cosign-key", Version: ver})
		}
		return newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: objs})
	}
	a := provider(keyVer)
	refresh(t, a)
	wantVersions(t, "before the rotation", keyVersions(t, a), "cosign-key/"+keyVer)

	// 1. A new version, added beside the old one: both are trusted.
	keyVerNew := createKey(t, v, "cosign-key")
	a = provider(keyVer, keyVerNew)
	refresh(t, a)
	wantVersions(t, "both listed", keyVersions(t, a), "cosign-key/"+keyVer, "cosign-key/"+keyVerNew)

	// 2. The old version leaked and is disabled, still listed: fail.
	if err := v.SetEnabled(keyvaultsim.Keys, "cosign-key", keyVer, false); err != nil {
		t.Fatal(err)
	}
	err := a.Refresh(context.Background())
	if !errors.Is(err, kmp.ErrDisabled) || !strings.Contains(err.Error(), "key cosign-key version "+keyVer+" is disabled in the vault") {
		t.Errorf("disabled version listed: %v", err)
	}
	if _, err := a.Keys(context.Background()); !errors.Is(err, kmp.ErrDisabled) {
		t.Errorf("Keys with a disabled version listed: %v", err)
	}

	// 3. The disabled version removed: only the new one.
	a = provider(keyVerNew)
	refresh(t, a)
	wantVersions(t, "disabled version removed", keyVersions(t, a), "cosign-key/"+keyVerNew)
}

// Reads go on while a Refresh runs, each seeing one whole material.
func TestAzureKeyVaultConcurrentRefresh(t *testing.T) {
	v := keyvaultsim.Start(t, keyvaultsim.Options{})
	createKey(t, v, "k")
	a := newAKV(t, v, kmp.AzureKeyVaultConfig{Keys: []kmp.KeyVaultObject{{Name: "k"}}})
	refresh(t, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			if _, _, err := v.CreateKey("k", keyvaultsim.KeyOptions{}); err != nil {
				t.Error(err)
				return
			}
			if err := a.Refresh(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}()
	for {
		select {
		case <-done:
			if n := len(keys(t, a)); n != 2 {
				t.Errorf("%d keys after rotations, want 2", n)
			}
			return
		default:
			if n := len(keys(t, a)); n < 1 || n > 2 {
				t.Errorf("%d keys", n)
			}
			_ = a.Version()
		}
	}
}
