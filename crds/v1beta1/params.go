package v1beta1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// Sentinel errors of DecodeParameters.
var (
	// ErrMalformedParameters: spec.parameters is not JSON of the kind's
	// shape (a string where a list is wanted, ...); no value is returned.
	ErrMalformedParameters = errors.New("malformed spec.parameters")
	// ErrInvalidParameters: spec.parameters decoded but failed Validate;
	// the decoded value is returned with it.
	ErrInvalidParameters = errors.New("invalid spec.parameters")
)

// paramsPath is where parameters sit in every kind, for messages.
const paramsPath = "spec.parameters"

// Validator is implemented by every parameter type: Validate reports, as
// Problems, each field that is wrong, naming its path.
//
// +kubebuilder:object:generate=false
type Validator interface {
	Validate() error
}

// DecodeParameters decodes a resource's spec.parameters into T and
// validates it. It is the one decoder of parameters, for the file loader and
// for the cluster controllers alike.
//
// Values are decoded as Ratify decodes them (encoding/json: a field name is
// matched exactly, else case-insensitively, and fields T does not have are
// ignored), so every resource Ratify accepts is accepted. Those ignored
// fields are returned as warnings naming their path, such as
// `unknown field "spec.parameters.cosignEnabld"`: most are typos of a
// setting that then silently keeps its default.
//
// The error is ErrMalformedParameters (with a zero T) or
// ErrInvalidParameters (with the decoded T, for callers that report every
// problem and go on, as the policy compiler does).
func DecodeParameters[T Validator](raw runtime.RawExtension) (T, []string, error) {
	var zero T
	data := raw.Raw
	if data == nil && raw.Object != nil {
		var err error
		if data, err = json.Marshal(raw.Object); err != nil {
			return zero, nil, malformed{err}
		}
	}
	var p T
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || string(trimmed) == "null" {
		return p, nil, p.Validate()
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return zero, nil, malformed{err}
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return zero, nil, malformed{err}
	}
	var unknown []string
	unknownFields(paramsPath, generic, reflect.TypeOf(p), &unknown)
	var warnings []string
	for _, path := range unknown {
		warnings = append(warnings, fmt.Sprintf("unknown field %q", path))
	}
	return p, warnings, p.Validate()
}

// malformed is ErrMalformedParameters with the decoder's reason.
type malformed struct{ err error }

func (e malformed) Error() string        { return paramsPath + ": " + e.err.Error() }
func (e malformed) Unwrap() error        { return e.err }
func (e malformed) Is(target error) bool { return target == ErrMalformedParameters }

// Problems are the validation failures of one spec.parameters, each naming
// its field; it is ErrInvalidParameters.
//
// +kubebuilder:object:generate=false
type Problems []error

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (ps Problems) Unwrap() []error { return ps }

// Is makes every Problems ErrInvalidParameters.
func (ps Problems) Is(target error) bool { return target == ErrInvalidParameters }

// EachProblem calls f with each problem of err: the elements of its
// Problems, or err itself when it has none.
func EachProblem(err error, f func(error)) {
	if err == nil {
		return
	}
	var ps Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			f(p)
		}
		return
	}
	f(err)
}

// problems collects Validate's findings.
type problems []error

func (ps *problems) add(format string, args ...any) {
	*ps = append(*ps, fmt.Errorf(format, args...))
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return Problems(ps)
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// unknownFields appends the path of every object key of v (decoded JSON)
// that decoding into t ignores. Names match as encoding/json matches them;
// a value of a type that decodes itself (json.RawMessage: a free-form
// document) is not looked into.
func unknownFields(path string, v any, t reflect.Type, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			f, ok := lookupField(fields, k)
			if !ok {
				*out = append(*out, path+"."+k)
				continue
			}
			unknownFields(path+"."+k, obj[k], f.typ, out)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range sortedKeys(obj) {
			unknownFields(path+"."+k, obj[k], t.Elem(), out)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			unknownFields(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), out)
		}
	}
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields are the JSON names of t's fields, embedded structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}

// lookupField is encoding/json's choice: the exact name, else the first
// case-insensitive match.
func lookupField(fields []jsonField, key string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return jsonField{}, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
