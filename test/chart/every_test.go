package chart

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
	"github.com/seed-12b584bc/ratify/library"
)

// rendered is what checkEveryInstall and the case checks read.
type rendered struct {
	deploy    *appsv1.Deployment
	container corev1.Container
}

func read(t *testing.T, d docs) rendered {
	t.Helper()
	deps := d.ofKind("Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, have %s", deps.names())
	}
	dep := typed[appsv1.Deployment](t, deps[0])
	if n := len(dep.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, have %d", n)
	}
	return rendered{deploy: dep, container: dep.Spec.Template.Spec.Containers[0]}
}

// checkEveryInstall holds whatever the values: the names that connect the
// objects, the security context, the derived timeouts, RBAC, and that every
// ratify resource is one ratify accepts.
func checkEveryInstall(t *testing.T, in install, d docs) {
	r := read(t, d)
	name := r.deploy.Name
	if want := fullname(in.release); name != want {
		t.Errorf("Deployment %s, want %s", name, want)
	}
	svc := typed[corev1.Service](t, d.must(t, "Service", name))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 6001 || svc.Spec.Ports[0].TargetPort.IntValue() != 6001 {
		t.Errorf("Service ports %+v, want 6001", svc.Spec.Ports)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, r.deploy.Spec.Selector.MatchLabels) {
		t.Errorf("Service selects %v, Deployment's pods are %v", svc.Spec.Selector, r.deploy.Spec.Selector.MatchLabels)
	}
	for k, v := range r.deploy.Spec.Selector.MatchLabels {
		if r.deploy.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s=%q, the selector wants %q", k, r.deploy.Spec.Template.Labels[k], v)
		}
	}

	c := r.container
	if c.Name != "ratify" || len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("container %s runs %v %v, want ratify running the image's /ratify serve", c.Name, c.Command, c.Args)
	}
	for _, want := range []string{"--addr=:6001", "--cert-dir=/usr/local/tls"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	for _, a := range c.Args {
		if a == "-c" || strings.HasPrefix(a, "--config") || strings.HasPrefix(a, "--namespace") || strings.HasPrefix(a, "--http") {
			t.Errorf("arg %s: ratify reads the cluster's resources and its namespace from RATIFY_NAMESPACE", a)
		}
	}
	health := flag(t, c.Args, "--health-addr")
	for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe {
			t.Errorf("no HTTP probe of %s", probe)
			continue
		}
		if port := containerPort(c, p.HTTPGet.Port.String()); ":"+fmt.Sprint(port) != health {
			t.Errorf("probe of %s on port %d, ratify's health server is on %s", probe, port, health)
		}
	}
	if e := env(c, "RATIFY_NAME"); e == nil || e.Value != name {
		t.Errorf("RATIFY_NAME %v, want the Service's name %s", e, name)
	}
	if e := env(c, "RATIFY_NAMESPACE"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("RATIFY_NAMESPACE %v, want the pod's namespace", e)
	}
	checkSecurityContext(t, r)
	checkVolumes(t, r, name+"-tls")

	// Gatekeeper's Providers call the Service, with ratify answering just
	// before Gatekeeper's deadline.
	verify := provider(t, d, "ratify-provider")
	if want := "https://" + name + "." + in.namespace + ":6001/ratify/gatekeeper/v1/verify"; verify.url != want {
		t.Errorf("ratify-provider url %s, want %s", verify.url, want)
	}
	if got, want := flag(t, c.Args, "--verify-timeout"), fmt.Sprintf("%dms", verify.timeout*1000-100); got != want {
		t.Errorf("--verify-timeout=%s with a Provider timeout of %ds, want %s", got, verify.timeout, want)
	}
	if d.find("Provider", "ratify-mutation-provider") != nil {
		mutate := provider(t, d, "ratify-mutation-provider")
		if want := "https://" + name + "." + in.namespace + ":6001/ratify/gatekeeper/v1/mutate"; mutate.url != want {
			t.Errorf("ratify-mutation-provider url %s, want %s", mutate.url, want)
		}
		if got, want := flag(t, c.Args, "--mutate-timeout"), fmt.Sprintf("%dms", mutate.timeout*1000-50); got != want {
			t.Errorf("--mutate-timeout=%s with a Provider timeout of %ds, want %s", got, mutate.timeout, want)
		}
		if mutate.caBundle != verify.caBundle {
			t.Error("the two Providers trust different CAs")
		}
		checkAssigns(t, d, in.namespace)
	} else if as := d.ofKind("Assign"); len(as) != 0 {
		t.Errorf("Assigns %s without ratify-mutation-provider", as.names())
	}
	checkTLS(t, d, name, in.namespace, verify.caBundle)
	checkRBAC(t, d, r, in.namespace)
	checkRatifyResources(t, d)
}

func fullname(release string) string {
	if strings.Contains(release, "ratify") {
		return release
	}
	return release + "-ratify"
}

// flag returns the value of --name=value in args, or fails.
func flag(t *testing.T, args []string, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("args %v lack %s", args, name)
	return ""
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name || fmt.Sprint(p.ContainerPort) == name {
			return p.ContainerPort
		}
	}
	return 0
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// The pod runs as Ratify's user 65532, unprivileged, on a read-only root
// filesystem with the runtime's seccomp profile.
func checkSecurityContext(t *testing.T, r rendered) {
	t.Helper()
	pod := r.deploy.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser != 65532 ||
		pod.RunAsGroup == nil || *pod.RunAsGroup != 65532 {
		t.Errorf("pod security context %+v, want non-root 65532:65532", pod)
	}
	sc := r.container.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container security context")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities %+v, want all dropped", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccomp %+v, want RuntimeDefault", sc.SeccompProfile)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532:
		t.Error("container may run as root")
	}
}

// The TLS Secret is mounted at --cert-dir and a writable /tmp exists.
func checkVolumes(t *testing.T, r rendered, tlsSecret string) {
	t.Helper()
	mounts := map[string]string{}
	for _, m := range r.container.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	vols := map[string]corev1.Volume{}
	for _, v := range r.deploy.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	tlsVol, ok := vols[mounts["/usr/local/tls"]]
	if !ok || tlsVol.Secret == nil || tlsVol.Secret.SecretName != tlsSecret {
		t.Errorf("/usr/local/tls is %+v, want Secret %s", tlsVol, tlsSecret)
	}
	if tmp, ok := vols[mounts["/tmp"]]; !ok || tmp.EmptyDir == nil {
		t.Error("no emptyDir at /tmp: the root filesystem is read-only")
	}
	if _, ok := mounts["/usr/local/tls/client-ca"]; ok || slices.Contains(r.container.Args, "--ca-cert-file=/usr/local/tls/client-ca/ca.crt") {
		t.Error("helm template found Gatekeeper's Secret: lookups are empty there")
	}
}

type gkProvider struct {
	url, caBundle string
	timeout       int64
}

func provider(t *testing.T, d docs, name string) gkProvider {
	t.Helper()
	o := d.must(t, "Provider", name)
	if o.GetAPIVersion() != "externaldata.gatekeeper.sh/v1beta1" {
		t.Errorf("Provider %s is %s", name, o.GetAPIVersion())
	}
	url, _, _ := unstructured.NestedString(o.Object, "spec", "url")
	ca, _, _ := unstructured.NestedString(o.Object, "spec", "caBundle")
	// YAML numbers decode as float64.
	n, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "timeout")
	f, _ := n.(float64)
	timeout := int64(f)
	if timeout <= 0 {
		t.Errorf("Provider %s timeout %d", name, timeout)
	}
	if _, err := parseCABundle(ca); err != nil {
		t.Errorf("Provider %s caBundle: %v (Gatekeeper refuses it)", name, err)
	}
	return gkProvider{url: url, caBundle: ca, timeout: timeout}
}

// parseCABundle reads a caBundle as Gatekeeper does: base64 of a PEM
// certificate.
func parseCABundle(b64 string) (*x509.Certificate, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	return parsePEM(raw)
}

func parsePEM(raw []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// When the chart writes the certificate, it is for the Service's name and
// issued by the CA the Providers trust; with rotation the Secret is empty
// for ratify to fill.
func checkTLS(t *testing.T, d docs, name, namespace, caBundle string) {
	t.Helper()
	o := d.find("Secret", name+"-tls")
	if o == nil {
		t.Fatalf("no Secret %s-tls: the Deployment mounts it", name)
	}
	s := typed[corev1.Secret](t, o)
	if len(s.Data) == 0 {
		return // rotation: checked by checkGuide
	}
	ca, err := parseCABundle(caBundle)
	if err != nil {
		t.Fatal(err)
	}
	if base64.StdEncoding.EncodeToString(s.Data["ca.crt"]) != caBundle {
		t.Error("Secret ca.crt is not the Providers' caBundle")
	}
	leaf, err := parsePEM(s.Data["tls.crt"])
	if err != nil {
		t.Fatalf("tls.crt: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, host := range []string{name + "." + namespace, name + "." + namespace + ".svc"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("Gatekeeper calling %s would refuse ratify's certificate: %v", host, err)
		}
	}
	if len(s.Data["tls.key"]) == 0 {
		t.Error("no tls.key")
	}
}

// The Assigns are library/default/mutation's, with the namespaces ratify
// and Gatekeeper run in excluded.
func checkAssigns(t *testing.T, d docs, namespace string) {
	t.Helper()
	raw, err := library.File(library.MutationAssign)
	if err != nil {
		t.Fatal(err)
	}
	want := parse(t, string(raw))
	got := d.ofKind("Assign")
	if len(got) != len(want) {
		t.Errorf("Assigns %s, want library's %s", got.names(), want.names())
	}
	for _, w := range want {
		g := d.find("Assign", w.GetName())
		if g == nil {
			t.Errorf("no Assign %s (library/%s)", w.GetName(), library.MutationAssign)
			continue
		}
		if g.GetAPIVersion() != w.GetAPIVersion() {
			t.Errorf("Assign %s is %s, library's %s", g.GetName(), g.GetAPIVersion(), w.GetAPIVersion())
		}
		excluded, _, _ := unstructured.NestedStringSlice(g.Object, "spec", "match", "excludedNamespaces")
		for _, ns := range []string{"gatekeeper-system", "kube-system", namespace} {
			if !slices.Contains(excluded, ns) {
				t.Errorf("Assign %s mutates namespace %s (excluded: %v)", g.GetName(), ns, excluded)
			}
		}
		gs, ws := spec(g), spec(w)
		unstructured.RemoveNestedField(gs, "match", "excludedNamespaces")
		unstructured.RemoveNestedField(ws, "match", "excludedNamespaces")
		if !reflect.DeepEqual(gs, ws) {
			t.Errorf("Assign %s spec differs from library/%s:\n got %v\nwant %v", g.GetName(), library.MutationAssign, gs, ws)
		}
	}
}

func spec(o *unstructured.Unstructured) map[string]any {
	s, _, _ := unstructured.NestedMap(o.Object, "spec")
	return s
}

// RBAC: engine/controller/rbac.yaml's rules (its cert rotation roles' too
// when rotation is on, for this release's Secret), in the roles named as
// in Ratify's chart, bound to the Deployment's service account.
func checkRBAC(t *testing.T, d docs, r rendered, namespace string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "engine", "controller", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ref := parse(t, string(raw))
	wantCluster := typed[rbacv1.ClusterRole](t, ref.must(t, "ClusterRole", "ratify-manager-role")).Rules
	wantNS := typed[rbacv1.Role](t, ref.must(t, "Role", "ratify-leader-election")).Rules
	if env(r.container, "RATIFY_CERT_ROTATION").Value == "1" {
		wantCluster = append(wantCluster, typed[rbacv1.ClusterRole](t, ref.must(t, "ClusterRole", "ratify-cert-rotation")).Rules...)
		for _, rule := range typed[rbacv1.Role](t, ref.must(t, "Role", "ratify-cert-rotation")).Rules {
			if slices.Equal(rule.ResourceNames, []string{"ratify-tls"}) {
				rule.ResourceNames = []string{r.deploy.Name + "-tls"}
			}
			wantNS = append(wantNS, rule)
		}
	}
	cr := typed[rbacv1.ClusterRole](t, d.must(t, "ClusterRole", "ratify-manager-cluster-role"))
	role := typed[rbacv1.Role](t, d.must(t, "Role", "ratify-manager-role"))
	if !reflect.DeepEqual(cr.Rules, wantCluster) {
		t.Errorf("ClusterRole rules\n%+v\nwant engine/controller/rbac.yaml's\n%+v", cr.Rules, wantCluster)
	}
	if !reflect.DeepEqual(role.Rules, wantNS) {
		t.Errorf("Role rules\n%+v\nwant engine/controller/rbac.yaml's\n%+v", role.Rules, wantNS)
	}
	sa := r.deploy.Spec.Template.Spec.ServiceAccountName
	d.must(t, "ServiceAccount", sa)
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, o := range d.ofKind(kind) {
			if strings.Contains(o.GetName(), "upgrade-crds") {
				continue
			}
			b := typed[rbacv1.RoleBinding](t, o)
			if len(b.Subjects) != 1 || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != namespace {
				t.Errorf("%s %s binds %+v, want ServiceAccount %s/%s", kind, b.Name, b.Subjects, namespace, sa)
			}
		}
	}
}

// Every ratify resource the chart creates decodes into ratify's types
// without an unknown field and passes ratify's validation: none is
// refused when ratify reads it.
func checkRatifyResources(t *testing.T, d docs) {
	t.Helper()
	for _, o := range d {
		if !strings.HasPrefix(o.GetAPIVersion(), v1beta1.Group+"/") {
			continue
		}
		var warnings []string
		var err error
		switch o.GetKind() {
		case "Store":
			_, warnings, err = typed[v1beta1.Store](t, o).Spec.StoreParameters()
		case "Verifier":
			v := typed[v1beta1.Verifier](t, o)
			switch v.Spec.VerifierType() {
			case v1beta1.VerifierNotation:
				_, warnings, err = v.Spec.NotationParameters()
			case v1beta1.VerifierCosign:
				_, warnings, err = v.Spec.CosignParameters()
			default:
				err = fmt.Errorf("verifier %q: ratify has no such verifier", v.Spec.VerifierType())
			}
		case "KeyManagementProvider":
			k := typed[v1beta1.KeyManagementProvider](t, o)
			switch k.Spec.Type {
			case "inline":
				_, warnings, err = k.Spec.InlineParameters()
			case "azurekeyvault":
				_, warnings, err = k.Spec.AzureKeyVaultParameters()
			default:
				err = fmt.Errorf("type %q", k.Spec.Type)
			}
		case "Policy":
			p := typed[v1beta1.Policy](t, o)
			switch p.Spec.Type {
			case "config-policy":
				_, warnings, err = p.Spec.ConfigPolicyParameters()
			case "rego-policy":
				_, warnings, err = p.Spec.RatifyRegoParameters()
			default:
				err = fmt.Errorf("type %q", p.Spec.Type)
			}
		default:
			err = fmt.Errorf("unexpected kind")
		}
		if err != nil || len(warnings) != 0 {
			t.Errorf("%s %s: ratify would refuse it: %v %v", o.GetKind(), o.GetName(), err, warnings)
		}
	}
}
