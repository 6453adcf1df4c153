package gatekeeper

import (
	"bytes"
	"encoding/base64"
	"strings"
	"text/template"
)

// IgnoreLabel marks a namespace Gatekeeper's webhooks leave alone; only a
// namespace exempt with --exempt-namespace may carry it.
const IgnoreLabel = "admission.gatekeeper.sh/ignore"

// Webhook configuration names, the chart's validatingWebhookName and
// mutatingWebhookName.
const (
	ValidatingWebhookName = "gatekeeper-validating-webhook-configuration"
	MutatingWebhookName   = "gatekeeper-mutating-webhook-configuration"
)

// exemptNamespaces are skipped by the webhooks (namespaceSelector) and
// exempt in Gatekeeper (--exempt-namespace): its own namespace, as the chart
// does, and kube-system, which the chart's post-install hook can label too
// (postInstall.labelNamespace.extraNamespaces).
var exemptNamespaces = []string{Namespace, "kube-system"}

// The chart's validatingWebhookSubResources and mutatingWebhookSubResources
// (v3.23.1 values.yaml): the known subresources but pods/status and the
// like, which would load Gatekeeper for nothing; mutation has no pods/resize.
var (
	validatingSubResources = []string{
		"pods/ephemeralcontainers", "pods/exec", "pods/log", "pods/eviction",
		"pods/portforward", "pods/proxy", "pods/attach", "pods/binding", "pods/resize",
		"deployments/scale", "replicasets/scale", "statefulsets/scale",
		"replicationcontrollers/scale", "services/proxy", "nodes/proxy", "services/status",
	}
	mutatingSubResources = []string{
		"pods/ephemeralcontainers", "pods/exec", "pods/log", "pods/eviction",
		"pods/portforward", "pods/proxy", "pods/attach", "pods/binding",
		"deployments/scale", "replicasets/scale", "statefulsets/scale",
		"replicationcontrollers/scale", "services/proxy", "nodes/proxy", "services/status",
	}
)

// webhooksTemplate is the chart's two webhook configurations (templates/
// gatekeeper-*-webhook-configuration-*.yaml with its default values), with
// each clientConfig a URL to the local process instead of the Service: the
// chart's validatingWebhookURL and mutatingWebhookURL.
var webhooksTemplate = template.Must(template.New("webhooks").Parse(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{.ValidatingName}}
  labels:
    gatekeeper.sh/system: "yes"
webhooks:
- name: validation.gatekeeper.sh
  admissionReviewVersions: [v1, v1beta1]
  clientConfig:
    url: {{.URL}}/v1/admit
    caBundle: {{.CABundle}}
  failurePolicy: {{.FailurePolicy}}
  matchPolicy: Exact
  namespaceSelector:
    matchExpressions:
    - {key: {{.IgnoreLabel}}, operator: DoesNotExist}
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{.Exempt}}]
  objectSelector: {}
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    operations: [CREATE, UPDATE]
    resources: ["*", {{.ValidatingSubResources}}]
    scope: "*"
  sideEffects: None
  timeoutSeconds: {{.ValidatingTimeout}}
- name: check-ignore-label.gatekeeper.sh
  admissionReviewVersions: [v1, v1beta1]
  clientConfig:
    url: {{.URL}}/v1/admitlabel
    caBundle: {{.CABundle}}
  failurePolicy: Fail
  matchPolicy: Exact
  namespaceSelector:
    matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{.Namespace}}]
  rules:
  - apiGroups: [""]
    apiVersions: ["*"]
    operations: [CREATE, UPDATE]
    resources: [namespaces]
    scope: "*"
  sideEffects: None
  timeoutSeconds: {{.ValidatingTimeout}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{.MutatingName}}
  labels:
    gatekeeper.sh/system: "yes"
webhooks:
- name: mutation.gatekeeper.sh
  admissionReviewVersions: [v1, v1beta1]
  clientConfig:
    url: {{.URL}}/v1/mutate
    caBundle: {{.CABundle}}
  failurePolicy: {{.FailurePolicy}}
  matchPolicy: Exact
  namespaceSelector:
    matchExpressions:
    - {key: {{.IgnoreLabel}}, operator: DoesNotExist}
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{.Exempt}}]
  objectSelector: {}
  reinvocationPolicy: Never
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    operations: [CREATE, UPDATE]
    resources: ["*", {{.MutatingSubResources}}]
    scope: "*"
  sideEffects: None
  timeoutSeconds: {{.MutatingTimeout}}
`))

// webhooksYAML renders webhooksTemplate for the process at url.
func webhooksYAML(url string, caPEM []byte, o Options) (string, error) {
	var b bytes.Buffer
	err := webhooksTemplate.Execute(&b, map[string]any{
		"ValidatingName":         ValidatingWebhookName,
		"MutatingName":           MutatingWebhookName,
		"URL":                    url,
		"CABundle":               base64.StdEncoding.EncodeToString(caPEM),
		"FailurePolicy":          o.FailurePolicy,
		"IgnoreLabel":            IgnoreLabel,
		"Namespace":              Namespace,
		"Exempt":                 strings.Join(exemptNamespaces, ", "),
		"ValidatingSubResources": strings.Join(validatingSubResources, ", "),
		"MutatingSubResources":   strings.Join(mutatingSubResources, ", "),
		"ValidatingTimeout":      o.ValidatingTimeoutSeconds,
		"MutatingTimeout":        o.MutatingTimeoutSeconds,
	})
	return b.String(), err
}
