package e2e_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// admissionWait bounds how long a verdict may take to be the expected
// one: Gatekeeper caches provider answers for 10s (the guide's
// externaldataProviderResponseCacheTTL), and a changed resource is in
// force once ratify's controllers rebuilt.
const admissionWait = 45 * time.Second

// pods counts the pods created, for unique names.
var pods int

// wantAdmitted checks that `kubectl run` of image in namespace default is
// created, and with the mutation on that its image was pinned to a
// digest; it returns the pod's image.
func (s *stack) wantAdmitted(t testing.TB, name, image string) string {
	t.Helper()
	return s.admittedIn(t, "default", name, image)
}

// wantRefused checks that `kubectl run` of image in namespace default is
// refused by Gatekeeper with ratify's verdict, naming the image and saying
// each of reasons (Gatekeeper may answer from its cache for 10s: until the
// verdict of the configuration in force, the check is repeated).
func (s *stack) wantRefused(t testing.TB, name, image string, reasons ...string) string {
	t.Helper()
	return s.refusedIn(t, "default", name, image, reasons...)
}

// waitStatus waits until kubectl get shows ISSUCCESS want for resource
// (kind/name) cluster-wide.
func (s *stack) waitStatus(t testing.TB, resource, want string) {
	t.Helper()
	s.statusIn(t, "", resource, want, "")
}

// admittedIn is wantAdmitted for a pod in namespace ns.
func (s *stack) admittedIn(t testing.TB, ns, name, image string) string {
	t.Helper()
	var got string
	wait.For(t, admissionWait, "kubectl run -n "+ns+" "+name+" --image="+image+" admitted", func() string {
		pods++
		img, err := s.kubectlRunIn(ns, fmt.Sprintf("%s-%d", name, pods), image)
		if err != nil {
			return err.Error()
		}
		got = img
		return ""
	})
	if s.mutation && !strings.Contains(got, "@sha256:") {
		t.Errorf("pod of %s runs %s: not pinned to a digest by the mutation", image, got)
	}
	t.Logf("kubectl run -n %s %s --image=%s: created, the pod runs %s", ns, name, image, got)
	return got
}

// refusedIn is wantRefused for a pod in namespace ns.
func (s *stack) refusedIn(t testing.TB, ns, name, image string, reasons ...string) string {
	t.Helper()
	var msg string
	wait.For(t, admissionWait, "kubectl run -n "+ns+" "+name+" --image="+image+" refused", func() string {
		pods++
		_, err := s.kubectlRunIn(ns, fmt.Sprintf("%s-%d", name, pods), image)
		if err == nil {
			return "admitted"
		}
		if !errors.Is(err, cluster.ErrKubectl) {
			t.Fatal(err)
		}
		msg = err.Error()
		if !strings.Contains(msg, `admission webhook "validation.gatekeeper.sh" denied the request`) || !strings.Contains(msg, image) {
			return "refused, but not by Gatekeeper naming the image: " + msg
		}
		for _, r := range reasons {
			if !strings.Contains(msg, r) {
				return fmt.Sprintf("refused without %q: %s", r, msg)
			}
		}
		return ""
	})
	t.Logf("kubectl run -n %s %s --image=%s: %s", ns, name, image, strings.TrimPrefix(msg, "kubectl failed: "))
	return msg
}

// statusIn waits until resource (kind/name) in namespace ns ("" for a
// cluster-wide one) has status.issuccess want and an error containing
// wantErr, and returns the error.
func (s *stack) statusIn(t testing.TB, ns, resource, want, wantErr string) string {
	t.Helper()
	args := []string{"get", resource, "-o", "jsonpath={.status.issuccess}|{.status.error}"}
	if ns != "" {
		args = append(args, "--namespace", ns)
	}
	var msg string
	wait.For(t, 60*time.Second, resource+" issuccess "+want, func() string {
		out, err := s.c.TryKubectl(args...)
		if err != nil {
			return err.Error()
		}
		got, e, _ := strings.Cut(out, "|")
		if got != want || !strings.Contains(e, wantErr) {
			return out
		}
		msg = e
		return ""
	})
	return msg
}

// waitCABundle waits until both Providers carry the CA of ratify's TLS
// Secret, other than old, and returns it.
func (s *stack) waitCABundle(t testing.TB, old string) string {
	t.Helper()
	var ca string
	wait.For(t, 90*time.Second, "the Providers' caBundle is ratify's CA", func() string {
		secretCA, err := s.c.TryKubectl("-n", ratifyNS, "get", "secret", release+"-tls", "-o", `jsonpath={.data.ca\.crt}`)
		if err != nil || secretCA == "" {
			return fmt.Sprintf("no CA in the Secret yet (%v)", err)
		}
		for _, p := range s.providers() {
			b, err := s.c.TryKubectl("get", "providers.externaldata.gatekeeper.sh", p, "-o", "jsonpath={.spec.caBundle}")
			if err != nil {
				return err.Error()
			}
			if b != secretCA || b == old {
				return p + " has another caBundle"
			}
		}
		ca = secretCA
		return ""
	})
	if _, err := base64.StdEncoding.DecodeString(ca); err != nil {
		t.Fatalf("caBundle is not base64: %v", err)
	}
	return ca
}

func (s *stack) providers() []string {
	if s.mutation {
		return []string{"ratify-provider", "ratify-mutation-provider"}
	}
	return []string{"ratify-provider"}
}
