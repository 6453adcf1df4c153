package kmp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// maxListedVersions bounds the versions read of one object, whatever the
// vault answers: history needs only the newest few.
const maxListedVersions = 1000

// objectVersion is one version as a versions listing shows it.
type objectVersion struct {
	version string
	created time.Time
	enabled bool
}

// versionLister lists the versions of a named object.
type versionLister func(ctx context.Context, name string) ([]objectVersion, error)

// history returns the versions before latest still to trust: of the
// limit-1 versions created just before it, the enabled ones. A disabled
// version keeps its place in the window, so disabling a leaked version
// never brings an older one back.
func (a *AzureKeyVault) history(ctx context.Context, kind, name, latest string, latestCreated *time.Time, list versionLister) ([]string, error) {
	vs, err := list(ctx, name)
	if status(err) == http.StatusForbidden {
		// Listing needs the list permission; without it only the latest
		// version is trusted, as in Ratify.
		a.log.Warn("cannot list versions, so only the latest is trusted: give the identity the list permission",
			kind, name, "error", summary(err))
		return nil, nil
	}
	if err != nil {
		return nil, describedError{fmt.Sprintf("%s %s: listing its versions: %s", kind, name, summary(err)), err}
	}
	sortNewestFirst(vs)
	var out []string
	window := a.limit - 1
	for _, v := range vs {
		if window == 0 {
			break
		}
		if v.version == latest || (latestCreated != nil && v.created.After(*latestCreated)) {
			continue
		}
		window--
		if v.enabled {
			out = append(out, v.version)
		}
	}
	return out, nil
}

// sortNewestFirst orders versions by creation time, the newest first; the
// listing's order breaks ties.
func sortNewestFirst(vs []objectVersion) {
	slices.SortStableFunc(vs, func(x, y objectVersion) int { return y.created.Compare(x.created) })
}

func (a *AzureKeyVault) keyVersions(ctx context.Context, name string) ([]objectVersion, error) {
	pager := a.keyClient.NewListKeyPropertiesVersionsPager(name, nil)
	return listVersions(ctx, pager.More, func(ctx context.Context) ([]objectVersion, error) {
		page, err := pager.NextPage(ctx)
		var out []objectVersion
		for _, p := range page.Value {
			if p != nil && p.KID != nil {
				out = append(out, versionOf(p.KID.Version(), p.Attributes != nil, func() (*bool, *time.Time) { return p.Attributes.Enabled, p.Attributes.Created }))
			}
		}
		return out, err
	})
}

// secretVersions lists a certificate's versions through its secret, which
// the identity reads anyway (Key Vault Secrets User), rather than through
// the certificate, which needs another permission.
func (a *AzureKeyVault) secretVersions(ctx context.Context, name string) ([]objectVersion, error) {
	pager := a.secretClient.NewListSecretPropertiesVersionsPager(name, nil)
	return listVersions(ctx, pager.More, func(ctx context.Context) ([]objectVersion, error) {
		page, err := pager.NextPage(ctx)
		var out []objectVersion
		for _, p := range page.Value {
			if p != nil && p.ID != nil {
				out = append(out, versionOf(p.ID.Version(), p.Attributes != nil, func() (*bool, *time.Time) { return p.Attributes.Enabled, p.Attributes.Created }))
			}
		}
		return out, err
	})
}

// listVersions reads the pages of an SDK's versions listing, up to
// maxListedVersions.
func listVersions(ctx context.Context, more func() bool, next func(context.Context) ([]objectVersion, error)) ([]objectVersion, error) {
	var out []objectVersion
	for more() && len(out) < maxListedVersions {
		page, err := next(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
	}
	return out, nil
}

// versionOf is a listed version with its attributes, when it has them.
func versionOf(version string, hasAttributes bool, attributes func() (*bool, *time.Time)) objectVersion {
	v := objectVersion{version: version}
	if hasAttributes {
		enabled, created := attributes()
		v.enabled = enabled != nil && *enabled
		if created != nil {
			v.created = *created
		}
	}
	return v
}
