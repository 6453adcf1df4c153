package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/seed-12b584bc/ratify/engine/controller"
)

// rotatedProviders are the Gatekeeper Providers whose spec.caBundle
// certificate rotation keeps at ratify's CA: Ratify's chart names them so
// (the mutation one exists only with mutation on; a missing one is
// skipped, and patched once it is created).
var rotatedProviders = []string{"ratify-provider", "ratify-mutation-provider"}

// errNoProviderKind: certificate rotation in a cluster without Gatekeeper.
var errNoProviderKind = errors.New("no Gatekeeper Provider kind")

// certRotation is --cert-rotation, as Ratify's RATIFY_CERT_ROTATION: the
// Lease holder issues a CA and a serving certificate into the Secret
// <service>-tls with cert-controller, renews them before they expire, and
// writes the CA into the Providers' caBundle; every replica serves the
// certificate once the kubelet has mounted that Secret in the cert dir
// (server.ServeOptions.WaitForCert), and picks up each new one there.
type certRotation struct {
	namespace, service, certDir string
	log                         *slog.Logger
	cs                          kubernetes.Interface // set by setup
}

func (r *certRotation) secret() types.NamespacedName {
	return types.NamespacedName{Namespace: r.namespace, Name: r.service + "-tls"}
}

// dnsName is the name Gatekeeper reaches the Service by (the Providers'
// url), the certificate's subject and the CA's name, as in Ratify.
func (r *certRotation) dnsName() string { return r.service + "." + r.namespace }

func (r *certRotation) permissions() []controller.Permission {
	return controller.CertRotationPermissions(r.namespace, r.secret().Name, rotatedProviders...)
}

// setup adds cert-controller's rotator, and what keeps its Secret in
// place, to the controllers' manager: one Lease decides which replica
// writes status, the Secret and the Providers.
func (r *certRotation) setup(mgr manager.Manager) error {
	// cert-controller writes the Secret with the manager's client, whose
	// scheme otherwise knows ratify's kinds only.
	if err := corev1.AddToScheme(mgr.GetScheme()); err != nil {
		return err
	}
	// Without the kind, cert-controller's watch of the Providers would
	// time out after minutes with a cryptic message.
	gk := schema.GroupKind{Group: controller.ProviderGroup, Kind: "Provider"}
	if _, err := mgr.GetRESTMapper().RESTMapping(gk, "v1beta1"); err != nil {
		if meta.IsNoMatchError(err) {
			return fmt.Errorf("%w: certificate rotation writes its CA into Gatekeeper's Providers, and this cluster serves no %s/v1beta1 Provider: install Gatekeeper first",
				errNoProviderKind, gk.Group)
		}
		return fmt.Errorf("certificate rotation: looking up Gatekeeper's Provider kind: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	r.cs = cs
	if err := mgr.Add(manager.RunnableFunc(r.keepSecret)); err != nil {
		return err
	}
	webhooks := make([]rotator.WebhookInfo, 0, len(rotatedProviders))
	for _, name := range rotatedProviders {
		webhooks = append(webhooks, rotator.WebhookInfo{Name: name, Type: rotator.ExternalDataProvider})
	}
	// cert-controller closes injected once the certificate files exist and
	// the CA is in the Providers; it does so on the Lease holder only (the
	// others do not run it), so serving waits for the files instead.
	injected := make(chan struct{})
	dns := r.dnsName()
	err = rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      r.secret(),
		CertDir:        r.certDir,
		CAName:         dns,
		CAOrganization: "Ratify",
		DNSName:        dns,
		ExtraDNSNames:  []string{dns + ".svc", dns + ".svc.cluster.local"},
		IsReady:        injected,
		Webhooks:       webhooks,
		ExtKeyUsages:   &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// The Secret and the Providers are shared by the replicas: one
		// writer, the Lease holder (every runnable runs when
		// --leader-elect=false).
		RequireLeaderElection: true,
	})
	if err != nil {
		return fmt.Errorf("certificate rotation: %w", err)
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		select {
		case <-injected:
			r.log.Info("certificate rotation: certificate mounted and CA written into the Providers' caBundle", "secret", r.secret().String(), "providers", rotatedProviders)
		case <-ctx.Done():
		}
		return nil
	}))
}

// prepare creates the Secret if it is missing, before the manager starts:
// cert-controller only fills a Secret that exists (Ratify's chart creates
// it empty), and its first Get, from a cache that must list it, fails its
// start for good when there is none. Every replica may: one create wins.
func (r *certRotation) prepare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !r.createSecret(ctx) {
		return fmt.Errorf("certificate rotation: could not create the Secret %s within a minute (see the errors above)", r.secret())
	}
	return nil
}

// keepSecret, on the Lease holder, creates the Secret again whenever it
// is deleted: deleting it is how an operator asks for a new CA and
// certificate, which cert-controller issues into the new empty Secret.
func (r *certRotation) keepSecret(ctx context.Context) error {
	key := r.secret()
	lw := toolscache.NewFilteredListWatchFromClient(r.cs.CoreV1().RESTClient(), "secrets", key.Namespace, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", key.Name).String()
	})
	store, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		Handler: toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(any) {
			r.log.Info("certificate rotation: the Secret was deleted; creating an empty one, into which a new CA and certificate are issued", "secret", key.String())
			r.createSecret(ctx)
		}},
	})
	go informer.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil
	}
	if len(store.ListKeys()) == 0 {
		r.createSecret(ctx)
	}
	<-ctx.Done()
	return nil
}

// createSecret creates the empty Secret, retrying until it exists (true)
// or ctx ends: until then no certificate can be issued.
func (r *certRotation) createSecret(ctx context.Context) bool {
	key := r.secret()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
	for {
		_, err := r.cs.CoreV1().Secrets(key.Namespace).Create(ctx, secret, metav1.CreateOptions{FieldManager: "ratify"})
		switch {
		case err == nil:
			r.log.Info("certificate rotation: created the empty Secret", "secret", key.String())
			return true
		case apierrors.IsAlreadyExists(err):
			return true
		}
		r.log.Error("certificate rotation: cannot create the Secret; retrying", "secret", key.String(), "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Second):
		}
	}
}
