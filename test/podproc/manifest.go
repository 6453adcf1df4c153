package podproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Objects splits a rendered manifest (helm template, helm get manifest)
// into its objects.
func Objects(manifest []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// Deployment is the Deployment named name in a rendered manifest.
func Deployment(manifest []byte, name string) (*appsv1.Deployment, error) {
	objs, err := Objects(manifest)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != name {
			continue
		}
		b, err := o.MarshalJSON()
		if err != nil {
			return nil, err
		}
		d := &appsv1.Deployment{}
		if err := yaml.Unmarshal(b, d); err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("the manifest has no Deployment %s", name)
}
