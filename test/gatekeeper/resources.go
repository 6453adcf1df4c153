package gatekeeper

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podStatus is one entry of a Gatekeeper resource's status.byPod.
type podStatus struct {
	ID                 string `json:"id"`
	ObservedGeneration int64  `json:"observedGeneration"`
	Enforced           bool   `json:"enforced"`
	Active             bool   `json:"active"`
	Errors             []struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// gkObject is the part of a Gatekeeper resource the waits read.
type gkObject struct {
	Metadata struct {
		Generation int64 `json:"generation"`
	} `json:"metadata"`
	Status struct {
		Created bool        `json:"created"`
		ByPod   []podStatus `json:"byPod"`
	} `json:"status"`
}

// errorsOf are the errors Gatekeeper reports for the current generation.
func (o gkObject) errorsOf() string {
	var msgs []string
	for _, p := range o.Status.ByPod {
		if p.ObservedGeneration != o.Metadata.Generation {
			continue
		}
		for _, e := range p.Errors {
			msgs = append(msgs, strings.TrimSpace(e.Code+" "+e.Message+" "+e.Location))
		}
	}
	return strings.Join(msgs, "; ")
}

// InstallTemplate applies a ConstraintTemplate and then a constraint of its
// kind, and returns once Gatekeeper enforces them: the template is created
// (its constraint CRD exists) with no error, the constraint is enforced,
// and ready, which knows what the policy does (e.g. a dry-run admission it
// denies), returns nil. ready may be nil. A template Gatekeeper reports an
// error for (Rego that does not compile) fails the test at once.
func (g *Gatekeeper) InstallTemplate(t testing.TB, templateYAML, constraintYAML string, ready func() error) {
	t.Helper()
	tmpl := g.apply(t, "template.yaml", templateYAML)
	g.poll(t, "constraint template "+tmpl, func() error {
		o, err := g.get(tmpl)
		if err != nil {
			return err
		}
		if msg := o.errorsOf(); msg != "" {
			t.Fatalf("gatekeeper refused %s: %s", tmpl, msg)
		}
		if !o.Status.Created {
			return fmt.Errorf("%w: %s not created yet", ErrNotReady, tmpl)
		}
		return nil
	})

	// The constraint's kind is served once Gatekeeper's CRD for it is
	// established; kubectl learns of it on a later try.
	file := writeTemp(t, "constraint.yaml", constraintYAML)
	var constraint string
	g.poll(t, "applying the constraint", func() error {
		out, err := g.c.TryKubectl("apply", "-f", file, "-o", "name")
		constraint = strings.TrimSpace(out)
		return err
	})
	g.poll(t, "constraint "+constraint, func() error {
		o, err := g.get(constraint)
		if err != nil {
			return err
		}
		if msg := o.errorsOf(); msg != "" {
			return fmt.Errorf("%w: %s", ErrNotReady, msg)
		}
		enforced := false
		for _, p := range o.Status.ByPod {
			if p.ObservedGeneration == o.Metadata.Generation && p.Enforced {
				enforced = true
			}
		}
		if !enforced {
			return fmt.Errorf("%w: %s not enforced yet", ErrNotReady, constraint)
		}
		return nil
	})
	if ready != nil {
		g.poll(t, "the policy of "+tmpl, ready)
	}
}

// WaitProvider waits until Gatekeeper has taken in the external data
// Provider name (status.byPod[].active, no error).
func (g *Gatekeeper) WaitProvider(t testing.TB, name string) {
	t.Helper()
	ref := "providers.externaldata.gatekeeper.sh/" + name
	g.poll(t, "provider "+name, func() error {
		o, err := g.get(ref)
		if err != nil {
			return err
		}
		if msg := o.errorsOf(); msg != "" {
			return fmt.Errorf("%w: %s", ErrNotReady, msg)
		}
		for _, p := range o.Status.ByPod {
			if p.ObservedGeneration == o.Metadata.Generation && p.Active {
				return nil
			}
		}
		return fmt.Errorf("%w: %s not active yet", ErrNotReady, name)
	})
}

// apply applies docs and returns the first object's kind/name as kubectl
// names it (resource.group/name).
func (g *Gatekeeper) apply(t testing.TB, file, docs string) string {
	t.Helper()
	out := g.c.Kubectl(t, "apply", "-f", writeTemp(t, file, docs), "-o", "name")
	name, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return name
}

func (g *Gatekeeper) get(ref string) (gkObject, error) {
	var o gkObject
	out, err := g.c.TryKubectl("get", ref, "-o", "json")
	if err != nil {
		return o, err
	}
	err = json.Unmarshal([]byte(out), &o)
	return o, err
}

// writeTemp writes content to a new file named name in a temporary
// directory of the test.
func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
