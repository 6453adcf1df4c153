package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/seed-12b584bc/ratify/test/tools"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func chartDir() string { return filepath.Join(repoRoot(), "charts", "ratify") }

// helm runs the real helm with its own empty configuration, cache and data
// directories, so that nothing of the machine's helm set-up is used.
type helm struct {
	bin string
	env []string
}

func newHelm(t *testing.T) *helm {
	t.Helper()
	bin := tools.Path(t, "helm")
	home := t.TempDir()
	return &helm{bin: bin, env: []string{
		"HOME=" + home,
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"PATH=/usr/bin:/bin",
	}}
}

var errHelm = errors.New("helm failed")

func (h *helm) run(args ...string) (string, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.Join(errHelm, errors.New("helm "+strings.Join(args, " ")+": "+err.Error()+": "+strings.TrimSpace(stderr.String())))
	}
	return stdout.String(), nil
}

// install is one way of installing the chart: a release name, a namespace
// and the helm flags that set values.
type install struct {
	name      string
	release   string
	namespace string
	flags     []string
}

// template renders the chart as `helm template` does (hooks included,
// lookups empty) and returns the YAML.
func (h *helm) template(t *testing.T, in install) string {
	t.Helper()
	args := append([]string{"template", in.release, chartDir(), "--namespace", in.namespace}, in.flags...)
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// docs is a rendering, parsed.
type docs []*unstructured.Unstructured

func parse(t *testing.T, rendered string) docs {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	var out docs
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if obj == nil {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// find returns the object of kind and name, or nil.
func (d docs) find(kind, name string) *unstructured.Unstructured {
	for _, o := range d {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// must is find, failing the test when the object is not rendered.
func (d docs) must(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := d.find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s rendered (have %s)", kind, name, d.names())
	}
	return o
}

func (d docs) ofKind(kind string) docs {
	var out docs
	for _, o := range d {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (d docs) names() string {
	var s []string
	for _, o := range d {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

// typed converts an object to its Go type (a Deployment, a Role, a
// Store, ...); a field the type does not have fails the test.
func typed[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	raw, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var out T
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &out
}
