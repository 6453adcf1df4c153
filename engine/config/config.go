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
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

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
func Load(r io.Reader) (*Resources, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	res := &Resources{}
	dec := v1beta1.NewDecoder()
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

func (res *Resources) add(dec *v1beta1.Decoder, i int, doc []byte) error {
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
	if h.APIVersion != v1beta1.APIVersion {
		return fmt.Errorf("%s %q: unsupported apiVersion %s (want %s)", h.Kind, h.Metadata.Name, h.APIVersion, v1beta1.APIVersion)
	}
	if h.Metadata.Name == "" {
		return fmt.Errorf("%s: metadata.name is required", h.Kind)
	}
	if !kinds[h.Kind] {
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
	res.Warnings = append(res.Warnings, warnings...)
	switch o := obj.(type) {
	case *v1beta1.Store:
		res.Stores = append(res.Stores, *o)
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
	return nil
}

// kinds are the kinds a resources file may hold (not their lists).
var kinds = map[string]bool{
	"Store": true, "Verifier": true, "NamespacedVerifier": true, "KeyManagementProvider": true,
	"NamespacedKeyManagementProvider": true, "Policy": true, "NamespacedPolicy": true, "CertificateStore": true,
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
func (res *Resources) Revision() string {
	h := sha256.New()
	b, _ := json.Marshal([]any{res.Stores, res.Verifiers, res.NamespacedVerifiers, res.KMPs, res.NamespacedKMPs,
		res.Policies, res.NamespacedPolicies, res.CertificateStores})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
