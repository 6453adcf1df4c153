package controller

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// resources are the plural names of the kinds ratify watches.
var resources = []string{
	"stores", "namespacedstores", "verifiers", "namespacedverifiers",
	"keymanagementproviders", "namespacedkeymanagementproviders",
	"certificatestores", "policies", "namespacedpolicies",
}

// Permission is one thing ratify must be allowed to do: a verb on a
// resource, cluster-wide or in Namespace, on every object or the one
// named Name.
type Permission struct {
	Verb, Group, Resource, Subresource, Namespace, Name string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Name != "" {
		r += " " + p.Name
	}
	where := "cluster-wide"
	if p.Namespace != "" {
		where = "in namespace " + p.Namespace
	}
	return fmt.Sprintf("%s %s %s", p.Verb, r, where)
}

// permissions are what the controllers need (see the package comment).
func permissions(namespace string, leaderElection bool) []Permission {
	var out []Permission
	for _, r := range resources {
		for _, verb := range []string{"get", "list", "watch"} {
			out = append(out, Permission{Verb: verb, Group: v1beta1.Group, Resource: r})
		}
		out = append(out, Permission{Verb: "update", Group: v1beta1.Group, Resource: r, Subresource: "status"})
	}
	if leaderElection {
		for _, verb := range []string{"get", "create", "update"} {
			out = append(out, Permission{Verb: verb, Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace})
		}
	}
	return out
}

// ProviderGroup is Gatekeeper's external-data group, whose Providers
// certificate rotation writes the CA into.
const ProviderGroup = "externaldata.gatekeeper.sh"

// CertRotationPermissions are what certificate rotation needs on top:
// the Secret secret in namespace, which it creates when missing, watches
// (cert-controller's cache watches the namespace's Secrets: list and
// watch cannot be limited to one name) and writes; the Providers named
// providers, whose spec.caBundle it writes (Providers are cluster-scoped;
// the same holds for list and watch).
func CertRotationPermissions(namespace, secret string, providers ...string) []Permission {
	out := []Permission{
		{Verb: "list", Resource: "secrets", Namespace: namespace},
		{Verb: "watch", Resource: "secrets", Namespace: namespace},
		// RBAC cannot limit create to a name: the name is not known
		// before the object exists.
		{Verb: "create", Resource: "secrets", Namespace: namespace},
	}
	for _, verb := range []string{"get", "update", "patch"} {
		out = append(out, Permission{Verb: verb, Resource: "secrets", Namespace: namespace, Name: secret})
	}
	out = append(out, Permission{Verb: "list", Group: ProviderGroup, Resource: "providers"},
		Permission{Verb: "watch", Group: ProviderGroup, Resource: "providers"})
	for _, p := range providers {
		for _, verb := range []string{"get", "update", "patch"} {
			out = append(out, Permission{Verb: verb, Group: ProviderGroup, Resource: "providers", Name: p})
		}
	}
	return out
}

// Check asks the API server whether ratify may do everything the
// controllers need, and extra (what a feature that is on needs, e.g.
// CertRotationPermissions), and names the first thing it may not, so a
// missing RBAC rule is one clear error at start rather than a controller
// that never syncs.
func Check(ctx context.Context, cfg *rest.Config, namespace string, leaderElection bool, extra ...Permission) error {
	// Dozens of small reviews, once at start: not under the client's
	// steady-state rate limit, which would make them take seconds.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, p := range append(permissions(namespace, leaderElection), extra...) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource, Namespace: p.Namespace, Name: p.Name,
			},
		}}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking ratify's permissions: %w", err)
		}
		if !res.Status.Allowed {
			return fmt.Errorf("%w: ratify may not %s; grant it the ClusterRole and Role of docs/serve.md (Permissions)", ErrForbidden, p)
		}
	}
	return nil
}
