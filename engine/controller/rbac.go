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

// permission is one thing ratify must be allowed to do.
type permission struct {
	verb, group, resource, subresource, namespace string
}

func (p permission) String() string {
	r := p.resource
	if p.group != "" {
		r += "." + p.group
	}
	if p.subresource != "" {
		r += "/" + p.subresource
	}
	where := "cluster-wide"
	if p.namespace != "" {
		where = "in namespace " + p.namespace
	}
	return fmt.Sprintf("%s %s %s", p.verb, r, where)
}

// permissions are what the controllers need (see the package comment).
func permissions(namespace string, leaderElection bool) []permission {
	var out []permission
	for _, r := range resources {
		for _, verb := range []string{"get", "list", "watch"} {
			out = append(out, permission{verb, v1beta1.Group, r, "", ""})
		}
		out = append(out, permission{"update", v1beta1.Group, r, "status", ""})
	}
	if leaderElection {
		for _, verb := range []string{"get", "create", "update"} {
			out = append(out, permission{verb, "coordination.k8s.io", "leases", "", namespace})
		}
	}
	return out
}

// Check asks the API server whether ratify may do everything the
// controllers need, and names the first thing it may not, so a missing
// RBAC rule is one clear error at start rather than a controller that
// never syncs.
func Check(ctx context.Context, cfg *rest.Config, namespace string, leaderElection bool) error {
	// Dozens of small reviews, once at start: not under the client's
	// steady-state rate limit, which would make them take seconds.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, p := range permissions(namespace, leaderElection) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: p.verb, Group: p.group, Resource: p.resource, Subresource: p.subresource, Namespace: p.namespace,
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
