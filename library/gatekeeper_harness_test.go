package library_test

// Gatekeeper, as far as it matters to the library: its real policy engine
// (frameworks/constraint's client and Rego driver, with external data, its
// provider cache and its HTTP client with a client certificate), fed the
// library's YAML as written. The only part written here is the admission
// target, because Gatekeeper's own (pkg/target in the gatekeeper module) is
// not a dependency of ratify: it builds the same `input.review` (the
// AdmissionRequest) and matches constraints on spec.match kinds, namespaces
// and excludedNamespaces as Gatekeeper documents them.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	apiconstraints "github.com/open-policy-agent/frameworks/constraint/pkg/apis/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	edv1beta1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/v1beta1"
	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/yaml"

	"github.com/seed-12b584bc/ratify/library"
)

// admissionTarget is the name of Gatekeeper's admission target; the library's
// templates name it in spec.targets.
const admissionTarget = "admission.k8s.gatekeeper.sh"

type k8sTarget struct{}

// review is the `input.review` Gatekeeper builds: the AdmissionRequest.
type review struct{ admissionv1.AdmissionRequest }

func (r *review) GetAdmissionRequest() *admissionv1.AdmissionRequest { return &r.AdmissionRequest }

func (k8sTarget) GetName() string { return admissionTarget }

func (k8sTarget) ProcessData(any) (bool, []string, any, error) { return false, nil, nil, nil }

func (k8sTarget) HandleReview(obj any) (bool, any, error) {
	if req, ok := obj.(*admissionv1.AdmissionRequest); ok {
		return true, &review{*req}, nil
	}
	return false, nil, nil
}

func (k8sTarget) ValidateConstraint(*unstructured.Unstructured) error { return nil }

func (k8sTarget) MatchSchema() apiextensions.JSONSchemaProps {
	strs := apiextensions.JSONSchemaProps{Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &apiextensions.JSONSchemaProps{Type: "string"}}}
	return apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
		"kinds": {Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &apiextensions.JSONSchemaProps{
			Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{"apiGroups": strs, "kinds": strs}}}},
		"namespaces":         strs,
		"excludedNamespaces": strs,
	}}
}

type match struct {
	Kinds              []struct{ APIGroups, Kinds []string } `json:"kinds"`
	Namespaces         []string                              `json:"namespaces"`
	ExcludedNamespaces []string                              `json:"excludedNamespaces"`
}

func (k8sTarget) ToMatcher(c *unstructured.Unstructured) (constraints.Matcher, error) {
	m := &match{}
	if raw, found, _ := unstructured.NestedMap(c.Object, "spec", "match"); found {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *match) Match(r any) (bool, error) {
	req := r.(*review).AdmissionRequest
	kindOK := len(m.Kinds) == 0
	for _, k := range m.Kinds {
		kindOK = kindOK || (anyOf(k.APIGroups, req.Kind.Group) && anyOf(k.Kinds, req.Kind.Kind))
	}
	nsOK := len(m.Namespaces) == 0 || anyOf(m.Namespaces, req.Namespace)
	return kindOK && nsOK && !(len(m.ExcludedNamespaces) > 0 && anyOf(m.ExcludedNamespaces, req.Namespace)), nil
}

// anyOf reports whether v matches a pattern: "*", a name, or Gatekeeper's
// prefix ("kube-*") and suffix ("*-system") globs.
func anyOf(patterns []string, v string) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == v:
			return true
		case strings.HasSuffix(p, "*") && strings.HasPrefix(v, strings.TrimSuffix(p, "*")):
			return true
		case strings.HasPrefix(p, "*") && strings.HasSuffix(v, strings.TrimPrefix(p, "*")):
			return true
		}
	}
	return false
}

// sampleConstraint is the first document of a library constraint sample.
func sampleConstraint(t *testing.T, path string) map[string]any {
	t.Helper()
	return readYAML(t, path)[0]
}

// readYAML reads a library file into documents: multi-document files split.
func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := library.File(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, m)
	}
	return docs
}

// loadTemplate reads a ConstraintTemplate as Gatekeeper's controller does:
// the templates.gatekeeper.sh/v1 object, defaulted, converted to the
// engine's version. Unknown fields are an error (the CRD would drop them).
func loadTemplate(t *testing.T, path string) *templates.ConstraintTemplate {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := apis.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	v1 := &templatesv1.ConstraintTemplate{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(readYAML(t, path)[0], v1, true); err != nil {
		t.Fatalf("%s is not a templates.gatekeeper.sh/v1 ConstraintTemplate: %v", path, err)
	}
	scheme.Default(v1)
	ct := &templates.ConstraintTemplate{}
	if err := scheme.Convert(v1, ct, nil); err != nil {
		t.Fatal(err)
	}
	return ct
}

// loadProvider reads the Provider name from provider.yaml, pointed at addr
// and trusting caPEM, as an operator fills in the sample.
func loadProvider(t *testing.T, name, addr string, caPEM []byte) *unversioned.Provider {
	t.Helper()
	for _, doc := range readYAML(t, library.Providers) {
		p := &edv1beta1.Provider{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(doc, p, true); err != nil {
			t.Fatalf("%s: %v", library.Providers, err)
		}
		if p.Name != name {
			continue
		}
		p.Spec.URL = strings.Replace(p.Spec.URL, "ratify.gatekeeper-system:6001", addr, 1)
		p.Spec.CABundle = base64.StdEncoding.EncodeToString(caPEM)
		out := &unversioned.Provider{}
		if err := edv1beta1.Convert_v1beta1_Provider_To_unversioned_Provider(p, out, nil); err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("%s has no Provider %s", library.Providers, name)
	return nil
}

// gatekeeper is Gatekeeper's engine set up as its main does with external
// data and client certificates enabled.
type gatekeeper struct {
	providers *externaldata.ProviderCache
	client    *constraintclient.Client
}

// newGatekeeper loads a template and a constraint into a fresh client.
// The Rego driver registers external_data process-wide, bound to the last
// driver made, so every driver here shares one provider cache and one
// certificate watcher: the builtin then behaves the same whichever it is.
func newGatekeeper(t *testing.T, providers *externaldata.ProviderCache, certs *certwatcher.CertWatcher, templatePath string, constraint map[string]any) *gatekeeper {
	t.Helper()
	driver, err := rego.New(rego.AddExternalDataProviderCache(providers), rego.EnableExternalDataClientAuth(), rego.AddExternalDataClientCertWatcher(certs))
	if err != nil {
		t.Fatal(err)
	}
	c, err := constraintclient.NewClient(constraintclient.Targets(k8sTarget{}), constraintclient.Driver(driver),
		constraintclient.EnforcementPoints(apiconstraints.WebhookEnforcementPoint))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.AddTemplate(ctx, loadTemplate(t, templatePath)); err != nil {
		t.Fatalf("Gatekeeper refuses %s: %v", templatePath, err)
	}
	if _, err := c.AddConstraint(ctx, &unstructured.Unstructured{Object: constraint}); err != nil {
		t.Fatalf("Gatekeeper refuses constraint %v: %v", constraint["metadata"], err)
	}
	return &gatekeeper{providers: providers, client: c}
}

// admit reviews the creation of pod as Gatekeeper's validating webhook
// does and returns whether it is admitted and the violation messages.
func (g *gatekeeper) admit(t *testing.T, pod *corev1.Pod) (bool, []string) {
	t.Helper()
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	return g.admitObject(t, pod, metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, pod.ObjectMeta)
}

// admitObject reviews the creation of any object (its TypeMeta set).
func (g *gatekeeper) admitObject(t *testing.T, obj any, resource metav1.GroupVersionResource, meta metav1.ObjectMeta) (bool, []string) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var typ metav1.TypeMeta
	if err := json.Unmarshal(raw, &typ); err != nil {
		t.Fatal(err)
	}
	gv, err := schema.ParseGroupVersion(typ.APIVersion)
	if err != nil {
		t.Fatal(err)
	}
	req := &admissionv1.AdmissionRequest{
		UID:       "test",
		Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: typ.Kind},
		Resource:  resource,
		Name:      meta.Name,
		Namespace: meta.Namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := g.client.Review(ctx, req, reviews.EnforcementPoint(apiconstraints.WebhookEnforcementPoint))
	if err != nil {
		t.Fatalf("review: %v", err)
	}
	admitted, msgs := true, []string{}
	for _, r := range resp.Results() {
		msgs = append(msgs, r.Msg)
		if r.EnforcementAction == "deny" {
			admitted = false
		}
	}
	return admitted, msgs
}

// gatekeeperCerts writes a CA and a certificate shaped like the one
// Gatekeeper's cert-controller makes for its webhook service, which
// Gatekeeper also presents as its external-data client certificate
// (server and client auth, RSA), into dir as ca.crt, tls.crt and tls.key.
func gatekeeperCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatekeeper-ca", Organization: []string{"gatekeeper"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const service = "gatekeeper-webhook-service.gatekeeper-system.svc"
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: service}, DNSNames: []string{service},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for f, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
