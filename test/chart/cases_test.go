package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

func checkDefaults(t *testing.T, d docs) {
	r := read(t, d)
	wantArgs := []string{"serve", "--addr=:6001", "--cert-dir=/usr/local/tls", "--health-addr=:9099",
		"--metrics-addr=:8888", "--cache-ttl=10s", "--verify-timeout=4900ms", "--mutate-timeout=1950ms"}
	if !reflect.DeepEqual(r.container.Args, wantArgs) {
		t.Errorf("args %v, want %v", r.container.Args, wantArgs)
	}
	if r.container.Image != "ratify:0.1.0" {
		t.Errorf("image %s, want ratify at the chart's appVersion", r.container.Image)
	}
	if e := env(r.container, "RATIFY_CERT_ROTATION"); e == nil || e.Value != "0" {
		t.Errorf("RATIFY_CERT_ROTATION %v, want \"0\"", e)
	}
	if e := env(r.container, "RATIFY_LOG_LEVEL"); e == nil || e.Value != "info" {
		t.Errorf("RATIFY_LOG_LEVEL %v, want info", e)
	}
	if r.deploy.Spec.Template.Annotations["prometheus.io/port"] != "8888" {
		t.Errorf("pod annotations %v, want Prometheus scraping 8888", r.deploy.Spec.Template.Annotations)
	}
	sa := typed[corev1.ServiceAccount](t, d.must(t, "ServiceAccount", "ratify-admin"))
	if _, ok := sa.Annotations["azure.workload.identity/client-id"]; ok {
		t.Error("client-id annotation without azureWorkloadIdentity.clientId")
	}
	if _, ok := r.deploy.Spec.Template.Labels["azure.workload.identity/use"]; ok {
		t.Error("workload identity pod label without azureWorkloadIdentity.clientId")
	}
	if d.find("PodDisruptionBudget", "ratify") != nil {
		t.Error("a PodDisruptionBudget for one replica blocks every node drain")
	}
	for _, kind := range []string{"Job", "ConfigMap"} {
		if len(d.ofKind(kind)) != 0 {
			t.Errorf("%s rendered with upgradeCRDs off", kind)
		}
	}
	// Ratify's default resources, by Ratify's names; the chart does not
	// create a cosign verifier without keys.
	for _, kn := range [][2]string{{"Store", "store-oras"}, {"Verifier", "verifier-notation"}, {"Policy", "ratify-policy"},
		{"Provider", "ratify-mutation-provider"}} {
		d.must(t, kn[0], kn[1])
	}
	if d.find("Verifier", "verifier-cosign") != nil || len(d.ofKind("KeyManagementProvider")) != 0 {
		t.Errorf("resources without keys or certificates given: %s", d.names())
	}
	store := typed[v1beta1.Store](t, d.must(t, "Store", "store-oras"))
	p, _, _ := store.Spec.StoreParameters()
	if !p.CosignEnabled || p.ReferrersCacheTTL != "10s" || p.AuthProvider != nil || p.UseHTTP {
		t.Errorf("store-oras %+v, want Ratify's: cosignEnabled, a 10s cache, the default auth", p)
	}
	policy := typed[v1beta1.Policy](t, d.must(t, "Policy", "ratify-policy"))
	if pp, _, _ := policy.Spec.ConfigPolicyParameters(); policy.Spec.Type != "config-policy" || pp.ArtifactVerificationPolicies["default"] != "all" {
		t.Errorf("ratify-policy %+v, want config-policy default all", policy.Spec)
	}
	for _, o := range d {
		if o.GetKind() == "Store" || o.GetKind() == "Verifier" || o.GetKind() == "Provider" || o.GetKind() == "Secret" {
			if o.GetAnnotations()["helm.sh/hook"] != "pre-install,pre-upgrade" {
				t.Errorf("%s %s is not a pre-install,pre-upgrade hook as in Ratify's chart", o.GetKind(), o.GetName())
			}
		}
	}
}

// The guide: workload identity on the service account and the pod, and
// ratify rotating its certificate.
func checkGuide(t *testing.T, d docs) {
	r := read(t, d)
	sa := typed[corev1.ServiceAccount](t, d.must(t, "ServiceAccount", "ratify-admin"))
	if sa.Annotations["azure.workload.identity/client-id"] != clientID {
		t.Errorf("service account annotations %v, want the workload identity's client id", sa.Annotations)
	}
	if r.deploy.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v, want azure.workload.identity/use", r.deploy.Spec.Template.Labels)
	}
	if e := env(r.container, "RATIFY_CERT_ROTATION"); e == nil || e.Value != "1" {
		t.Errorf("RATIFY_CERT_ROTATION %v, want \"1\"", e)
	}
	s := typed[corev1.Secret](t, d.must(t, "Secret", "ratify-tls"))
	if len(s.Data) != 0 {
		t.Errorf("Secret ratify-tls has %d keys: with rotation ratify writes it", len(s.Data))
	}
	// Rotation: writes limited by name to ratify's Secret and Providers.
	role := typed[rbacv1.Role](t, d.must(t, "Role", "ratify-manager-role"))
	cr := typed[rbacv1.ClusterRole](t, d.must(t, "ClusterRole", "ratify-manager-cluster-role"))
	if !grants(role.Rules, "", "secrets", "ratify-tls", "get", "update", "patch", "create", "list", "watch") {
		t.Errorf("Role %+v does not let ratify rotate Secret ratify-tls", role.Rules)
	}
	if grants(role.Rules, "", "secrets", "gatekeeper-webhook-server-cert", "update") {
		t.Error("ratify may update Gatekeeper's Secret")
	}
	for _, p := range []string{"ratify-provider", "ratify-mutation-provider"} {
		if !grants(cr.Rules, "externaldata.gatekeeper.sh", "providers", p, "get", "list", "watch", "update", "patch") {
			t.Errorf("ClusterRole %+v does not let ratify patch Provider %s", cr.Rules, p)
		}
	}
	if grants(cr.Rules, "externaldata.gatekeeper.sh", "providers", "someone-elses", "update") {
		t.Error("ratify may update any Provider")
	}
}

// grants reports whether rules allow every verb on the named object.
func grants(rules []rbacv1.PolicyRule, group, resource, name string, verbs ...string) bool {
	for _, verb := range verbs {
		ok := false
		for _, r := range rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
				(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// The Azure Policy add-on path: no mutation at all.
func checkAddOn(t *testing.T, d docs) {
	if d.find("Provider", "ratify-mutation-provider") != nil || len(d.ofKind("Assign")) != 0 {
		t.Errorf("mutation rendered with provider.enableMutation=false: %s", d.names())
	}
	d.must(t, "Provider", "ratify-provider")
	checkGuide(t, d)
}

func checkUserTLS(t *testing.T, d docs, tls userTLS) {
	if got := provider(t, d, "ratify-provider").caBundle; got != tls.cabundle() {
		t.Errorf("caBundle %s…, want provider.tls.cabundle", got[:min(len(got), 20)])
	}
	s := typed[corev1.Secret](t, d.must(t, "Secret", "ratify-tls"))
	crt, _ := os.ReadFile(tls.crtFile)
	key, _ := os.ReadFile(tls.keyFile)
	if string(s.Data["tls.crt"]) != string(crt) || string(s.Data["tls.key"]) != string(key) || string(s.Data["ca.crt"]) != tls.caPEM {
		t.Error("Secret ratify-tls is not provider.tls.crt, key and the CA")
	}
}

func checkReplicas(t *testing.T, d docs) {
	r := read(t, d)
	if r.deploy.Spec.Replicas == nil || *r.deploy.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", r.deploy.Spec.Replicas)
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, d.must(t, "PodDisruptionBudget", "ratify"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, r.deploy.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selects %v, the pods are %v", pdb.Spec.Selector.MatchLabels, r.deploy.Spec.Selector.MatchLabels)
	}
}

// Every value that changes what is rendered, for release "my" in
// ratify-system.
func checkEverything(t *testing.T, d docs) {
	r := read(t, d)
	c := r.container
	for _, want := range []string{"--multi-tenancy", "--require-digest", "--metrics-addr=-", "--cache-ttl=-1s",
		"--verify-timeout=2900ms", "--mutate-timeout=950ms", "--health-addr=:9100"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	if containerPort(c, "metrics") != 0 || r.deploy.Spec.Template.Annotations["prometheus.io/scrape"] != "" {
		t.Error("metrics port or scrape annotation with metrics disabled")
	}
	if c.Image != "myregistry.example/ratify:v9" {
		t.Errorf("image %s", c.Image)
	}
	if provider(t, d, "ratify-provider").timeout != 3 || provider(t, d, "ratify-mutation-provider").timeout != 1 {
		t.Error("Provider timeouts are not provider.timeout's")
	}
	excluded, _, _ := unstructured.NestedStringSlice(d.must(t, "Assign", "ratify-pin-container-images").Object,
		"spec", "match", "excludedNamespaces")
	if !slices.Contains(excluded, "legacy-apps") {
		t.Errorf("excludedNamespaces %v lack provider.mutationExcludedNamespaces", excluded)
	}

	// Key management providers by Ratify's names, and the verifiers using them.
	for _, n := range []string{"my-ratify-notation-inline-cert-0", "my-ratify-notation-inline-cert-1", "my-ratify-cosign-inline-key-0"} {
		d.must(t, "KeyManagementProvider", n)
	}
	akv := typed[v1beta1.KeyManagementProvider](t, d.must(t, "KeyManagementProvider", "kmprovider-akv"))
	ap, _, _ := akv.Spec.AzureKeyVaultParameters()
	if akv.Spec.RefreshInterval != "1h" || ap.ClientID != clientID || ap.TenantID != "tenant" ||
		len(ap.Certificates) != 1 || ap.Certificates[0].Name != "notation-cert" ||
		len(ap.Keys) != 1 || ap.Keys[0].Name != "cosign-key" || ap.Keys[0].Version != "v2" {
		t.Errorf("kmprovider-akv %+v %+v", akv.Spec, ap)
	}
	notation := typed[v1beta1.Verifier](t, d.must(t, "Verifier", "verifier-notation"))
	np, _, _ := notation.Spec.NotationParameters()
	stores := map[string]any{}
	for k, v := range np.VerificationCertStores {
		var x any
		_ = yaml.Unmarshal(v, &x)
		stores[k] = x
	}
	wantStores := map[string]any{
		"ca":  map[string]any{"cert-0": []any{"my-ratify-notation-inline-cert-1"}},
		"tsa": map[string]any{"cert-1": []any{"kmprovider-akv"}},
	}
	if !reflect.DeepEqual(stores, wantStores) {
		t.Errorf("verificationCertStores %v, want %v", stores, wantStores)
	}
	var doc struct {
		TrustPolicies []struct {
			TrustStores []string `json:"trustStores"`
		} `json:"trustPolicies"`
	}
	if err := yaml.Unmarshal(np.TrustPolicyDoc, &doc); err != nil || len(doc.TrustPolicies) != 1 ||
		!reflect.DeepEqual(doc.TrustPolicies[0].TrustStores, []string{"ca:cert-0", "tsa:cert-1"}) {
		t.Errorf("trustPolicyDoc %s", np.TrustPolicyDoc)
	}
	cosign := typed[v1beta1.Verifier](t, d.must(t, "Verifier", "verifier-cosign"))
	cp, _, _ := cosign.Spec.CosignParameters()
	if len(cp.TrustPolicies) != 1 || !reflect.DeepEqual(keyProviders(cp), []string{"my-ratify-cosign-inline-key-0", "kmprovider-akv"}) {
		t.Errorf("verifier-cosign %+v", cp)
	}
	store := typed[v1beta1.Store](t, d.must(t, "Store", "store-oras"))
	sp, _, _ := store.Spec.StoreParameters()
	if !sp.UseHTTP || sp.ReferrersCacheTTL != "0s" || sp.AuthProvider == nil || sp.AuthProvider.Name != "azureWorkloadIdentity" ||
		sp.AuthProvider.ClientID != clientID || !reflect.DeepEqual(sp.AuthProvider.Endpoints, []string{"myregistry.example"}) {
		t.Errorf("store-oras %+v %+v", sp, sp.AuthProvider)
	}
	if p := typed[v1beta1.Policy](t, d.must(t, "Policy", "ratify-policy")); p.Spec.Type != "rego-policy" {
		t.Errorf("ratify-policy type %s with policy.useRego", p.Spec.Type)
	}
	if d.find("Verifier", "verifier-sbom") != nil {
		t.Error("verifier-sbom: ratify has no SBOM verifier (sbom.enabled is ignored)")
	}

	// Registry credentials from dockerConfig, and the pod's scheduling.
	d.must(t, "Secret", "my-ratify-dockerconfig")
	if e := env(c, "DOCKER_CONFIG"); e == nil || e.Value != "/usr/local/docker" {
		t.Errorf("DOCKER_CONFIG %v", e)
	}
	pod := r.deploy.Spec.Template
	if pod.Labels["team"] != "platform" || pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" ||
		len(pod.Spec.ImagePullSecrets) != 1 || pod.Spec.ImagePullSecrets[0].Name != "pull" {
		t.Errorf("pod labels %v, node selector %v, pull secrets %v", pod.Labels, pod.Spec.NodeSelector, pod.Spec.ImagePullSecrets)
	}

	checkUpgradeCRDs(t, d)
}

func keyProviders(p v1beta1.CosignParameters) []string {
	var out []string
	for _, k := range p.TrustPolicies[0].Keys {
		out = append(out, k.Provider)
	}
	return out
}

// upgradeCRDs: a hook Job applies the chart's own CRDs, from a ConfigMap,
// with an account that may change only ratify's CRDs.
func checkUpgradeCRDs(t *testing.T, d docs) {
	files := yamlFiles(t, filepath.Join(chartDir(), "crds"))
	var names []string
	for _, b := range files {
		for _, crd := range parse(t, string(b)) {
			names = append(names, crd.GetName())
		}
	}
	cm := typed[corev1.ConfigMap](t, d.must(t, "ConfigMap", "ratify-crds"))
	for f, b := range files {
		if cm.Data[f] != string(b) {
			t.Errorf("ConfigMap ratify-crds %s is not charts/ratify/crds/%s", f, f)
		}
	}
	job := typed[batchv1.Job](t, d.must(t, "Job", "ratify-update-crds-hook"))
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != "kubectl:v1.37.2" || !slices.Contains(c.Args, "--server-side") || !slices.Contains(c.Args, "/ratify-crds/") {
		t.Errorf("CRD Job runs %s %v", c.Image, c.Args)
	}
	if job.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("CRD Job annotations %v", job.Annotations)
	}
	cr := typed[rbacv1.ClusterRole](t, d.must(t, "ClusterRole", "ratify-admin-upgrade-crds"))
	for _, n := range names {
		if !grants(cr.Rules, "apiextensions.k8s.io", "customresourcedefinitions", n, "get", "patch", "update", "create") {
			t.Errorf("the CRD Job may not update %s", n)
		}
	}
	if grants(cr.Rules, "apiextensions.k8s.io", "customresourcedefinitions", "assign.mutations.gatekeeper.sh", "patch") {
		t.Error("the CRD Job may patch Gatekeeper's CRDs")
	}
}

// Ratify's deprecated values become the same resources as their
// replacements.
func checkDeprecated(t *testing.T, d docs) {
	inline := typed[v1beta1.KeyManagementProvider](t, d.must(t, "KeyManagementProvider", "ratify-notation-inline-cert"))
	if ip, _, _ := inline.Spec.InlineParameters(); ip.ContentType != "certificate" {
		t.Errorf("notationCert KMP %+v", ip)
	}
	key := typed[v1beta1.KeyManagementProvider](t, d.must(t, "KeyManagementProvider", "ratify-cosign-inline-key"))
	if ip, _, _ := key.Spec.InlineParameters(); ip.ContentType != "key" {
		t.Errorf("cosign.key KMP %+v", ip)
	}
	akv := typed[v1beta1.KeyManagementProvider](t, d.must(t, "KeyManagementProvider", "kmprovider-akv"))
	if ap, _, _ := akv.Spec.AzureKeyVaultParameters(); len(ap.Certificates) != 1 || ap.Certificates[0].Name != "old-cert" ||
		ap.Certificates[0].Version != "v1" || ap.TenantID != "tenant" {
		t.Errorf("akvCertConfig KMP %+v", ap)
	}
	notation := typed[v1beta1.Verifier](t, d.must(t, "Verifier", "verifier-notation"))
	np, _, _ := notation.Spec.NotationParameters()
	var certs []string
	_ = yaml.Unmarshal(np.VerificationCertStores["certs"], &certs)
	if !reflect.DeepEqual(certs, []string{"kmprovider-akv", "ratify-notation-inline-cert"}) {
		t.Errorf("verifier-notation certs %v", certs)
	}
	cosign := typed[v1beta1.Verifier](t, d.must(t, "Verifier", "verifier-cosign"))
	if cp, _, _ := cosign.Spec.CosignParameters(); len(cp.TrustPolicies) != 1 || !reflect.DeepEqual(keyProviders(cp), []string{"ratify-cosign-inline-key"}) {
		t.Errorf("verifier-cosign %+v", cp)
	}
}
