package library_test

import (
	"net/url"
	"testing"

	"github.com/seed-12b584bc/ratify/engine/server"
	"github.com/seed-12b584bc/ratify/library"
)

// The samples refer to each other by name: the templates call
// ratify-provider, the Assigns call ratify-mutation-provider, and each
// Provider must point at the ratify endpoint that answers in its shape
// (verification reports, or a pinned image).
func TestSamplesAgree(t *testing.T) {
	providers := map[string]string{} // name -> URL path
	for _, p := range readYAML(t, library.Providers) {
		if p["apiVersion"] != "externaldata.gatekeeper.sh/v1beta1" || p["kind"] != "Provider" {
			t.Fatalf("%s: %v %v, want externaldata.gatekeeper.sh/v1beta1 Provider", library.Providers, p["apiVersion"], p["kind"])
		}
		name := p["metadata"].(map[string]any)["name"].(string)
		u, err := url.Parse(p["spec"].(map[string]any)["url"].(string))
		if err != nil || u.Scheme != "https" {
			t.Fatalf("Provider %s: url %v must be https (Gatekeeper refuses anything else)", name, p["spec"])
		}
		providers[name] = u.Path
	}
	if providers["ratify-provider"] != server.VerifyPath {
		t.Errorf("ratify-provider calls %q, want %s", providers["ratify-provider"], server.VerifyPath)
	}
	if providers["ratify-mutation-provider"] != server.MutatePath {
		t.Errorf("ratify-mutation-provider calls %q, want %s", providers["ratify-mutation-provider"], server.MutatePath)
	}

	locations := map[string]bool{}
	for _, a := range readYAML(t, library.MutationAssign) {
		if a["apiVersion"] != "mutations.gatekeeper.sh/v1" || a["kind"] != "Assign" {
			t.Fatalf("%s: %v %v, want mutations.gatekeeper.sh/v1 Assign", library.MutationAssign, a["apiVersion"], a["kind"])
		}
		spec := a["spec"].(map[string]any)
		locations[spec["location"].(string)] = true
		ext := spec["parameters"].(map[string]any)["assign"].(map[string]any)["externalData"].(map[string]any)
		if path, ok := providers[ext["provider"].(string)]; !ok || path != server.MutatePath {
			t.Errorf("Assign %v calls provider %v, which does not call %s", a["metadata"], ext["provider"], server.MutatePath)
		}
		// The image at the location is the key; Fail keeps an unpinned tag out.
		if ext["dataSource"] != "ValueAtLocation" || ext["failurePolicy"] != "Fail" {
			t.Errorf("Assign %v: externalData %v, want dataSource ValueAtLocation and failurePolicy Fail", a["metadata"], ext)
		}
	}
	for _, want := range []string{"spec.containers[name:*].image", "spec.initContainers[name:*].image"} {
		if !locations[want] {
			t.Errorf("no Assign pins %s", want)
		}
	}
}
