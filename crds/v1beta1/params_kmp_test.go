package v1beta1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAzureKeyVaultHistoryAndChallengeParameters(t *testing.T) {
	base := `"vaultURI": "https://v.vault.azure.net/", "tenantID": "t", "clientID": "c", "keys": [{"name": "k"}]`
	checkValidate[AzureKeyVaultParameters](t, []validateCase{
		{"history limit", `{` + base + `, "versionHistoryLimit": 3}`, nil},
		{"latest only", `{` + base + `, "versionHistoryLimit": 1}`, nil},
		{"private cloud", `{` + base + `, "disableChallengeResourceVerification": true}`, nil},
		{"zero history", `{` + base + `, "versionHistoryLimit": 0}`, []string{"spec.parameters.versionHistoryLimit 0: want at least 1"}},
		{"negative history", `{` + base + `, "versionHistoryLimit": -2}`, []string{"spec.parameters.versionHistoryLimit -2: want at least 1"}},
	})
	for _, c := range []struct {
		params    string
		limit     int
		noVerify  bool
		wantWarns int
	}{
		{`{` + base + `}`, DefaultVersionHistoryLimit, false, 0},
		{`{` + base + `, "versionHistoryLimit": 5, "disableChallengeResourceVerification": true}`, 5, true, 0},
		{`{` + base + `, "versionHistorylimit": 1}`, 1, false, 0}, // matched case-insensitively, as encoding/json does
	} {
		p, warnings, err := DecodeParameters[AzureKeyVaultParameters](runtime.RawExtension{Raw: []byte(c.params)})
		if err != nil || len(warnings) != c.wantWarns {
			t.Errorf("%s: %v %v", c.params, warnings, err)
			continue
		}
		if p.HistoryLimit() != c.limit || p.DisableChallengeResourceVerification != c.noVerify {
			t.Errorf("%s: limit %d verify off %v, want %d %v", c.params, p.HistoryLimit(), p.DisableChallengeResourceVerification, c.limit, c.noVerify)
		}
	}
}
