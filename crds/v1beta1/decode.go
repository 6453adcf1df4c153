package v1beta1

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// NewScheme is a scheme of this group's kinds. Each call makes a new one:
// a scheme is mutable, so none is shared.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = AddToScheme(s) // only adds known types: never fails
	return s
}

// Decoder decodes resource documents of this group as the API server
// would, strictly: a field the kind does not have is found, with its path.
//
// +kubebuilder:object:generate=false
type Decoder struct {
	strict runtime.Decoder
}

// NewDecoder returns a decoder of YAML or JSON documents.
func NewDecoder() *Decoder { return NewSchemeDecoder(NewScheme()) }

// NewSchemeDecoder returns a decoder of the kinds registered in s, with
// the same strictness and warnings: for this group's other versions
// (crds/v1alpha1), whose objects have no parameters decoded here.
func NewSchemeDecoder(s *runtime.Scheme) *Decoder {
	return &Decoder{strict: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s,
		json.SerializerOptions{Yaml: true, Strict: true})}
}

// Decode decodes one document into its typed object (a *Store, a
// *Verifier, ...). A field that the kind does not have, at any depth and
// including spec.parameters, is not an error but a warning naming its path
// (`Store store-oras: unknown field "spec.parameters.cosignEnabld"`), as is
// a key given twice: Ratify ignores such fields, so the resource loads as it
// would there. The error is for documents that cannot be decoded at all.
func (d *Decoder) Decode(doc []byte) (runtime.Object, []string, error) {
	obj, _, err := d.strict.Decode(doc, nil, nil)
	var warnings []string
	if strictErr, ok := runtime.AsStrictDecodingError(err); ok && obj != nil {
		for _, e := range strictErr.Errors() {
			warnings = append(warnings, Describe(obj)+": "+oneLine(e.Error()))
		}
		err = nil
	}
	if err != nil {
		return nil, nil, err
	}
	_, pw, _ := Parameters(obj)
	return obj, append(warnings, pw...), nil
}

// Parameters decodes the spec.parameters of obj by its kind and type (see
// DecodeParameters), for the loader and for the controllers, which receive
// typed objects: the typed parameters (nil for a type with none known
// here), warnings prefixed with the resource (Describe), and the decoding
// or validation error.
func Parameters(obj runtime.Object) (any, []string, error) {
	var (
		p        any
		warnings []string
		err      error
	)
	switch o := obj.(type) {
	case *Store:
		p, warnings, err = storeParameters(o.Spec)
	case *NamespacedStore:
		p, warnings, err = storeParameters(o.Spec)
	case *KeyManagementProvider:
		p, warnings, err = KMPParameters(o.Spec)
	case *NamespacedKeyManagementProvider:
		p, warnings, err = KMPParameters(o.Spec)
	case *CertificateStore:
		if o.Spec.Provider == KMPInline {
			p, warnings, err = o.Spec.InlineParameters()
		}
	case *Verifier:
		p, warnings, err = verifierParameters(o.Spec)
	case *NamespacedVerifier:
		p, warnings, err = verifierParameters(o.Spec)
	case *Policy:
		p, warnings, err = policyParameters(o.Spec)
	case *NamespacedPolicy:
		p, warnings, err = policyParameters(o.Spec)
	}
	for i, w := range warnings {
		warnings[i] = Describe(obj) + ": " + w
	}
	return p, warnings, err
}

// KMPParameters decodes and validates the parameters of a provider of a
// type in kmpParameterTypes; nil for other types.
func KMPParameters(s KeyManagementProviderSpec) (any, []string, error) {
	if decode, ok := kmpParameterTypes[s.Type]; ok {
		return decode(s)
	}
	return nil, nil, nil
}

// storeParameters decodes the parameters of the stores ratify knows; nil
// for other names.
func storeParameters(s StoreSpec) (any, []string, error) {
	if s.Name == StoreOras || s.Name == StoreOCILayout {
		return s.StoreParameters()
	}
	return nil, nil, nil
}

func verifierParameters(s VerifierSpec) (any, []string, error) {
	switch s.VerifierType() {
	case VerifierNotation:
		return s.NotationParameters()
	case VerifierCosign:
		return s.CosignParameters()
	}
	return nil, nil, nil
}

func policyParameters(s PolicySpec) (any, []string, error) {
	switch s.Type {
	case PolicyConfig:
		return s.ConfigPolicyParameters()
	case PolicyRatifyRego:
		return s.RatifyRegoParameters()
	case PolicyRego:
		return s.RegoParameters()
	case PolicyCEL:
		return s.CELParameters()
	}
	return nil, nil, nil
}

// Describe names a resource in messages: `Kind name`, or `Kind
// namespace/name` when it has a namespace.
func Describe(obj runtime.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kind = strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1beta1.")
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return kind
	}
	if ns := m.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + m.GetName()
	}
	return kind + " " + m.GetName()
}

// oneLine keeps a multi-line decoder message (YAML's duplicate keys) on
// one line of a log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
