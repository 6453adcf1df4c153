package gatekeeper

import (
	"encoding/base64"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// The rendered configurations are the chart's, by URL, with the guide's
// timeouts and the chart's failure policy when Options are zero.
func TestWebhooksYAML(t *testing.T) {
	out, err := webhooksYAML("https://127.0.0.1:8443", []byte("CA PEM"), Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), out)
	}
	var v admissionv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &v); err != nil {
		t.Fatal(err)
	}
	var m admissionv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &m); err != nil {
		t.Fatal(err)
	}
	if v.Name != ValidatingWebhookName || m.Name != MutatingWebhookName {
		t.Fatalf("names %q, %q", v.Name, m.Name)
	}
	if len(v.Webhooks) != 2 || len(m.Webhooks) != 1 {
		t.Fatalf("%d validating and %d mutating webhooks, want 2 and 1", len(v.Webhooks), len(m.Webhooks))
	}
	ca := base64.StdEncoding.EncodeToString([]byte("CA PEM"))
	check := func(name string, cc admissionv1.WebhookClientConfig, policy *admissionv1.FailurePolicyType, timeout *int32,
		wantPath, wantPolicy string, wantTimeout int32) {
		t.Helper()
		if cc.URL == nil || *cc.URL != "https://127.0.0.1:8443"+wantPath {
			t.Errorf("%s: url %v, want the process's %s", name, cc.URL, wantPath)
		}
		if base64.StdEncoding.EncodeToString(cc.CABundle) != ca {
			t.Errorf("%s: caBundle %q", name, cc.CABundle)
		}
		if policy == nil || string(*policy) != wantPolicy {
			t.Errorf("%s: failurePolicy %v, want %s", name, policy, wantPolicy)
		}
		if timeout == nil || *timeout != wantTimeout {
			t.Errorf("%s: timeoutSeconds %v, want %d", name, timeout, wantTimeout)
		}
	}
	for i, want := range []string{"validation.gatekeeper.sh", "check-ignore-label.gatekeeper.sh"} {
		if v.Webhooks[i].Name != want {
			t.Errorf("validating webhook %d is %s, want %s", i, v.Webhooks[i].Name, want)
		}
	}
	w := v.Webhooks[0]
	check(w.Name, w.ClientConfig, w.FailurePolicy, w.TimeoutSeconds, "/v1/admit", "Ignore", 5)
	w = v.Webhooks[1]
	check(w.Name, w.ClientConfig, w.FailurePolicy, w.TimeoutSeconds, "/v1/admitlabel", "Fail", 5)
	mw := m.Webhooks[0]
	check(mw.Name, mw.ClientConfig, mw.FailurePolicy, mw.TimeoutSeconds, "/v1/mutate", "Ignore", 2)

	// Pods are validated on CREATE and UPDATE, outside the exempt namespaces.
	rule := v.Webhooks[0].Rules[0]
	if !contains(rule.Resources, "*") || !contains(rule.Resources, "pods/exec") ||
		len(rule.Operations) != 2 || rule.Operations[0] != admissionv1.Create || rule.Operations[1] != admissionv1.Update {
		t.Errorf("validation rule %+v", rule)
	}
	sel := v.Webhooks[0].NamespaceSelector.MatchExpressions
	if len(sel) != 2 || sel[0].Key != IgnoreLabel || sel[0].Operator != "DoesNotExist" ||
		sel[1].Key != "kubernetes.io/metadata.name" || strings.Join(sel[1].Values, ",") != "gatekeeper-system,kube-system" {
		t.Errorf("namespace selector %+v", sel)
	}
	if contains(m.Webhooks[0].Rules[0].Resources, "pods/resize") {
		t.Error("mutation rule lists pods/resize, the chart's does not")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.ResponseCacheTTL.String() != "10s" || o.ValidatingTimeoutSeconds != 5 || o.MutatingTimeoutSeconds != 2 ||
		o.FailurePolicy != "Ignore" || o.LogLevel != "INFO" {
		t.Errorf("defaults %+v", o)
	}
	if o := (Options{ResponseCacheTTL: -1}).withDefaults(); o.ResponseCacheTTL != 0 {
		t.Errorf("a negative TTL is %s, want 0 (no cache)", o.ResponseCacheTTL)
	}
}

// The mapped names follow the machine's lines, all on 127.0.0.1.
func TestHostsFile(t *testing.T) {
	b, err := hostsFile([]string{"ratify.gatekeeper-system", "ratify.gatekeeper-system.svc"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if last := lines[len(lines)-1]; last != "127.0.0.1 ratify.gatekeeper-system ratify.gatekeeper-system.svc" {
		t.Errorf("last line %q", last)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
