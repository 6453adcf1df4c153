package cluster

import (
	"encoding/json"
	"strings"
	"testing"
)

// Status is the status of one resource of ratify's kinds as kubectl reads
// it: "issuccess|error" ("|" while it has none). namespace is "" for a
// cluster-scoped kind.
func (c *Cluster) Status(t testing.TB, kind, namespace, name string) string {
	t.Helper()
	args := []string{"get", kind, name, "-o", "jsonpath={.status.issuccess}|{.status.error}"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	return c.Kubectl(t, args...)
}

// IsSuccessColumn reads the ISSUCCESS column of `kubectl get` output, one
// table per kind: kind/name (the API group left out, as in
// store/store-oras) → the value, "" while the resource has no status.
// kubectl starts each value where its header starts.
func IsSuccessColumn(out string) map[string]string {
	col := -1
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "NAME ") {
			col = strings.Index(line, "ISSUCCESS")
			continue
		}
		if strings.TrimSpace(line) == "" || col < 0 {
			continue
		}
		name := strings.Replace(strings.Fields(line)[0], ".config.ratify.deislabs.io", "", 1)
		rows[name] = ""
		if len(line) > col && line[col] != ' ' {
			rows[name] = strings.Fields(line[col:])[0]
		}
	}
	return rows
}

// StatusWriters are, for each resource `kubectl get kinds` lists
// (kind/name, lower case), the field managers of its status as the API
// server records them: a client's program name unless it names another.
func (c *Cluster) StatusWriters(t testing.TB, kinds string) map[string][]string {
	t.Helper()
	var list struct {
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name          string `json:"name"`
				ManagedFields []struct {
					Manager     string `json:"manager"`
					Subresource string `json:"subresource"`
				} `json:"managedFields"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.Kubectl(t, "get", kinds, "-o", "json", "--show-managed-fields")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, it := range list.Items {
		name := strings.ToLower(it.Kind) + "/" + it.Metadata.Name
		out[name] = nil
		for _, m := range it.Metadata.ManagedFields {
			if m.Subresource == "status" {
				out[name] = append(out[name], m.Manager)
			}
		}
	}
	return out
}

// Leases are the Leases of namespace, one "name=holderIdentity" a line.
func (c *Cluster) Leases(t testing.TB, namespace string) string {
	t.Helper()
	return strings.TrimSpace(c.Kubectl(t, "get", "lease", "-n", namespace, "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.spec.holderIdentity}{"\n"}{end}`))
}
