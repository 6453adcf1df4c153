// Package config reads ratify's configuration: the same
// `config.ratify.deislabs.io` resources a cluster holds, from a
// multi-document YAML file, and turns them into component configurations.
package config

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/seed-12b584bc/ratify/crds/v1alpha1"
	"github.com/seed-12b584bc/ratify/crds/v1beta1"
)

// MaxFileBytes bounds a resources file.
const MaxFileBytes = 8 << 20

// Resources are the ratify resources of one file.
type Resources struct {
	Stores              []v1beta1.Store
	Verifiers           []v1beta1.Verifier
	NamespacedVerifiers []v1beta1.NamespacedVerifier
	KMPs                []v1beta1.KeyManagementProvider
	NamespacedKMPs      []v1beta1.NamespacedKeyManagementProvider
	Policies            []v1beta1.Policy
	NamespacedPolicies  []v1beta1.NamespacedPolicy
	CertificateStores   []v1beta1.CertificateStore
	// NamespacedStores are accepted for Ratify's YAML; the engine does not
	// read signatures through them yet, so they are not in Revision.
	NamespacedStores []v1beta1.NamespacedStore
	// Skipped lists documents that are not ratify resources, for warnings.
	Skipped []string
	// Warnings are the fields of the resources that ratify ignores, as
	// Ratify does (most are typos): `Store store-oras: unknown field
	// "spec.parameters.cosignEnabld"`.
	Warnings []string
}

// LoadFile reads the resources of a YAML file.
func LoadFile(path string) (*Resources, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// Load reads the resources of a multi-document YAML (or JSON) stream.
// Documents of Ratify's v1alpha1 are converted to v1beta1.
func Load(r io.Reader) (*Resources, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	res := &Resources{}
	dec := decoders{
		v1beta1.APIVersion:  v1beta1.NewDecoder(),
		v1alpha1.APIVersion: v1beta1.NewSchemeDecoder(v1alpha1.NewScheme()),
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := res.add(dec, i, doc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
	}
	return res, nil
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decoders decode the documents of each apiVersion a file may use.
type decoders map[string]*v1beta1.Decoder

func (res *Resources) add(decs decoders, i int, doc []byte) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	if string(js) == "null" {
		return nil
	}
	var h header
	if err := yaml.Unmarshal(js, &h); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if h.Kind == "" || h.APIVersion == "" {
		return errors.New("apiVersion and kind are required")
	}
	group, _, _ := strings.Cut(h.APIVersion, "/")
	if group != v1beta1.Group {
		res.Skipped = append(res.Skipped, fmt.Sprintf("document %d: %s %s/%s", i, h.APIVersion, h.Kind, h.Metadata.Name))
		return nil
	}
	// YAML keeps the last of repeated keys: say so, since the earlier
	// value (a key version, a scope) is silently gone.
	if _, serr := yaml.YAMLToJSONStrict(doc); serr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s: %s; the last value of a repeated key is the one used",
			h.Kind, h.Metadata.Name, strings.Join(strings.Fields(strings.TrimPrefix(serr.Error(), "yaml: unmarshal errors:")), " ")))
	}
	dec, ok := decs[h.APIVersion]
	if !ok {
		return fmt.Errorf("%s %q: unsupported apiVersion %s (want %s or %s)", h.Kind, h.Metadata.Name, h.APIVersion,
			v1beta1.APIVersion, v1alpha1.APIVersion)
	}
	if h.Metadata.Name == "" {
		return fmt.Errorf("%s: metadata.name is required", h.Kind)
	}
	if !kinds[h.APIVersion][h.Kind] {
		return fmt.Errorf("unknown kind %s in %s", h.Kind, h.APIVersion)
	}
	// Strictly, as the API server decodes: unknown fields are warnings, and
	// the resource loads as Ratify would load it.
	obj, warnings, err := dec.Decode(doc)
	if err != nil {
		return fmt.Errorf("%s %q: %w", h.Kind, h.Metadata.Name, err)
	}
	if m, ok := obj.(metav1.Object); !ok || m.GetName() == "" {
		// The header matched names in any case; the decoder does not.
		return fmt.Errorf("%s: metadata.name is required", h.Kind)
	}
	if h.APIVersion == v1alpha1.APIVersion {
		if obj, err = v1alpha1.ToV1beta1(obj); err != nil {
			return fmt.Errorf("%s %q: %w", h.Kind, h.Metadata.Name, err)
		}
		// The decoder knew no parameters of v1alpha1 kinds.
		_, pw, _ := v1beta1.Parameters(obj)
		warnings = append(warnings, pw...)
	}
	res.Warnings = append(res.Warnings, warnings...)
	res.Add(obj)
	return nil
}

// Add appends a v1beta1 resource to the slice of its kind; other objects
// are ignored. The file loader and the cluster controllers fill Resources
// this way.
func (res *Resources) Add(obj runtime.Object) {
	switch o := obj.(type) {
	case *v1beta1.Store:
		res.Stores = append(res.Stores, *o)
	case *v1beta1.NamespacedStore:
		res.NamespacedStores = append(res.NamespacedStores, *o)
	case *v1beta1.Verifier:
		res.Verifiers = append(res.Verifiers, *o)
	case *v1beta1.NamespacedVerifier:
		res.NamespacedVerifiers = append(res.NamespacedVerifiers, *o)
	case *v1beta1.KeyManagementProvider:
		res.KMPs = append(res.KMPs, *o)
	case *v1beta1.NamespacedKeyManagementProvider:
		res.NamespacedKMPs = append(res.NamespacedKMPs, *o)
	case *v1beta1.Policy:
		res.Policies = append(res.Policies, *o)
	case *v1beta1.NamespacedPolicy:
		res.NamespacedPolicies = append(res.NamespacedPolicies, *o)
	case *v1beta1.CertificateStore:
		res.CertificateStores = append(res.CertificateStores, *o)
	}
}

// kinds are the kinds a resources file may hold (not their lists), by
// apiVersion: v1alpha1 has the four kinds Ratify still serves in it.
var kinds = map[string]map[string]bool{
	v1beta1.APIVersion: {
		"Store": true, "NamespacedStore": true, "Verifier": true, "NamespacedVerifier": true, "KeyManagementProvider": true,
		"NamespacedKeyManagementProvider": true, "Policy": true, "NamespacedPolicy": true, "CertificateStore": true,
	},
	v1alpha1.APIVersion: {"Store": true, "Verifier": true, "Policy": true, "CertificateStore": true},
}

// Warn logs the skipped documents and the ignored fields.
func (res *Resources) Warn(log *slog.Logger) {
	for _, s := range res.Skipped {
		log.Warn("resource ignored", "document", s)
	}
	for _, w := range res.Warnings {
		log.Warn("resource field ignored", "warning", w)
	}
}

// Namespace is the namespace of a namespaced resource: "default" when the
// file leaves it out, as kubectl would.
func Namespace(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// Revision identifies the configuration: a digest of every resource's spec
// and identity. Caches keyed by it are invalidated by any change.
// NamespacedStores are left out while no decision depends on them.
func (res *Resources) Revision() string {
	h := sha256.New()
	b, _ := json.Marshal([]any{res.Stores, res.Verifiers, res.NamespacedVerifiers, res.KMPs, res.NamespacedKMPs,
		res.Policies, res.NamespacedPolicies, res.CertificateStores})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
