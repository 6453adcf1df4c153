package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-12b584bc/ratify/engine"
)

// briefLength bounds brieferror, the column `kubectl get` prints.
const briefLength = 100

// observedStatus is the status a resource should have, from what was
// observed of it.
type observedStatus struct {
	ok         bool
	err        string
	fetched    time.Time
	properties string // JSON
}

// statusOf is what e's status should say. refsMissing lists the key
// management providers a Verifier names that do not exist; observed is
// what the engine saw of the resource in use (kind.observed).
func statusOf(e entry, refsMissing []string, observed error) observedStatus {
	switch {
	case e.retrying != nil && e.valid != nil && e.generation == e.validGeneration:
		return observedStatus{err: fmt.Sprintf("%v (the last check failed and is retried; what was fetched at %s stays in force)",
			e.retrying, e.fetched.UTC().Format(time.RFC3339)), fetched: e.fetched, properties: propertiesOf(e)}
	case e.retrying != nil:
		return observedStatus{err: fmt.Sprintf("%v (the check failed and is retried)", e.retrying)}
	case e.err != nil && e.valid == nil:
		return observedStatus{err: e.err.Error()}
	case e.err != nil:
		// The cause first: `kubectl get` shows the first 100 characters.
		return observedStatus{err: fmt.Sprintf("%v (generation %d was refused, generation %d stays in force)", e.err, e.generation, e.validGeneration)}
	case len(refsMissing) > 0:
		return observedStatus{err: fmt.Sprintf("key management provider %s does not exist, is not valid, or is not visible from here: signatures it would verify are denied", strings.Join(refsMissing, ", "))}
	case observed != nil:
		return observedStatus{err: strings.ReplaceAll(observed.Error(), "\n", "; ")}
	}
	st := observedStatus{ok: true, properties: propertiesOf(e)}
	if e.material != nil {
		st.fetched = e.fetched
	}
	return st
}

func propertiesOf(e entry) string {
	if e.material == nil {
		return ""
	}
	return properties(*e.material, e.fetched)
}

// properties are a provider's keys and certificates as Ratify lists them
// in status: name, version, enabled, last refreshed; never the material.
func properties(m engine.Material, fetched time.Time) string {
	entry := func(name, version string, enabled bool) map[string]string {
		return map[string]string{"Name": name, "Version": version, "Enabled": strconv.FormatBool(enabled), "LastRefreshed": fetched.UTC().Format(time.RFC3339)}
	}
	var certs, keys []map[string]string
	for _, c := range m.Certificates {
		certs = append(certs, entry(c.Name, c.Version, c.Enabled))
	}
	for _, k := range m.Keys {
		keys = append(keys, entry(k.Name, k.Version, k.Enabled))
	}
	p := map[string]any{}
	if certs != nil {
		p["Certificates"] = certs
	}
	if keys != nil {
		p["Keys"] = keys
	}
	if len(m.Notes) > 0 {
		p["Notes"] = m.Notes
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// statusWriter writes status when this process holds the Lease, only
// where it changed.
type statusWriter struct {
	client  client.Client
	snap    *snapshot
	log     *slog.Logger
	elected <-chan struct{}
	// ownNamespace is ratify's: its CertificateStores are known by name.
	ownNamespace string

	mu      sync.Mutex
	written map[key]observedStatus
}

func (w *statusWriter) leader() bool {
	select {
	case <-w.elected:
		return true
	default:
		return false
	}
}

func (w *statusWriter) forget(k key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.written, k)
}

// writeAll brings every resource's status up to date.
func (w *statusWriter) writeAll(ctx context.Context) {
	if !w.leader() {
		return
	}
	w.snap.each(func(k key, e entry) {
		var missing []string
		if e.kind.refs != nil && e.valid != nil {
			for _, ref := range e.kind.refs(e.valid) {
				if !w.exists(k.namespace, ref) {
					missing = append(missing, ref)
				}
			}
		}
		var observed error
		if e.kind.observed != nil && e.valid != nil && e.err == nil && e.retrying == nil {
			observed = e.kind.observed(k.name)
		}
		want := statusOf(e, missing, observed)
		w.mu.Lock()
		done := w.written[k] == want
		w.mu.Unlock()
		if done {
			return
		}
		if err := w.write(ctx, k, e.kind, want); err != nil {
			w.log.Warn("status not written", "kind", k.kind, "namespace", k.namespace, "name", k.name, "err", err)
			return
		}
		w.mu.Lock()
		w.written[k] = want
		w.mu.Unlock()
	})
}

// exists reports whether the key management provider ref, named from a
// Verifier of namespace ns ("" for cluster-wide), is there and visible to
// it, as the engine resolves it: `name` is a cluster provider (or a
// CertificateStore of ratify's namespace, which the engine also knows by
// name), `namespace/name` a namespaced one of the Verifier's own namespace.
func (w *statusWriter) exists(ns, ref string) bool {
	if rns, name, ok := strings.Cut(ref, "/"); ok {
		return rns == ns && w.snap.has(rns, name, "NamespacedKeyManagementProvider", "CertificateStore")
	}
	return w.snap.has("", ref, "KeyManagementProvider") || w.snap.has(w.ownNamespace, ref, "CertificateStore")
}

// write patches the status of one resource to want.
func (w *statusWriter) write(ctx context.Context, k key, kd *kind, want observedStatus) error {
	obj := kd.newObj()
	if err := w.client.Get(ctx, types.NamespacedName{Namespace: k.namespace, Name: k.name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	before := obj.DeepCopyObject().(client.Object)
	f := kd.status(obj)
	*f.ok, *f.err, *f.brief = want.ok, want.err, brief(want.err)
	if f.fetched != nil {
		*f.fetched = nil
		if !want.fetched.IsZero() {
			*f.fetched = &metav1.Time{Time: want.fetched}
		}
		*f.properties = runtime.RawExtension{}
		if want.properties != "" {
			*f.properties = runtime.RawExtension{Raw: []byte(want.properties)}
		}
	}
	if reflect.DeepEqual(before, obj) {
		return nil
	}
	// An update, not a merge patch: a patch from the zero status would
	// leave out issuccess: false, which the schema requires.
	return w.client.Status().Update(ctx, obj)
}

// brief is err cut to briefLength characters for `kubectl get`.
func brief(err string) string {
	if r := []rune(err); len(r) > briefLength {
		return string(r[:briefLength-3]) + "..."
	}
	return err
}
