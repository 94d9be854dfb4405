package mirrorset

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The kinds this package understands, at the version the API server serves them.
var (
	ICSPKind  = operatorv1alpha1.GroupVersion.WithKind("ImageContentSourcePolicy")
	IDMSKind  = configv1.GroupVersion.WithKind("ImageDigestMirrorSet")
	ITMSKind  = configv1.GroupVersion.WithKind("ImageTagMirrorSet")
	ImageKind = configv1.GroupVersion.WithKind("Image")
)

// Is reports whether u is an object of gvk's group and kind, whatever its apiVersion's version.
// A caller uses it to pick the objects a filter acts on; the Decode functions then reject a
// version the API server does not serve, so that such an object is an error, not passed by.
func Is(u *unstructured.Unstructured, gvk schema.GroupVersionKind) bool {
	if u == nil {
		return false
	}
	got := u.GroupVersionKind()
	return got.Group == gvk.Group && got.Kind == gvk.Kind
}

// DecodeICSP decodes an operator.openshift.io/v1alpha1 ImageContentSourcePolicy.
// Unknown fields and values of the wrong type are errors naming their path; the error
// wraps a k8s.io/apimachinery aggregate of *field.Error.
func DecodeICSP(u *unstructured.Unstructured) (*operatorv1alpha1.ImageContentSourcePolicy, error) {
	obj := &operatorv1alpha1.ImageContentSourcePolicy{}
	if err := decodeStrict(u, ICSPKind, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeIDMS decodes a config.openshift.io/v1 ImageDigestMirrorSet, strictly (see DecodeICSP).
func DecodeIDMS(u *unstructured.Unstructured) (*configv1.ImageDigestMirrorSet, error) {
	obj := &configv1.ImageDigestMirrorSet{}
	if err := decodeStrict(u, IDMSKind, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeITMS decodes a config.openshift.io/v1 ImageTagMirrorSet, strictly (see DecodeICSP).
func DecodeITMS(u *unstructured.Unstructured) (*configv1.ImageTagMirrorSet, error) {
	obj := &configv1.ImageTagMirrorSet{}
	if err := decodeStrict(u, ITMSKind, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeImage decodes a config.openshift.io/v1 Image (the cluster image config), strictly
// (see DecodeICSP).
func DecodeImage(u *unstructured.Unstructured) (*configv1.Image, error) {
	obj := &configv1.Image{}
	if err := decodeStrict(u, ImageKind, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// decodeStrict checks u's apiVersion and kind against want, checks the shape of every field
// against obj's Go type, and only then converts.
func decodeStrict(u *unstructured.Unstructured, want schema.GroupVersionKind, obj runtime.Object) error {
	if u == nil || u.Object == nil {
		return fmt.Errorf("decoding %s: no object", want.Kind)
	}
	what := want.Kind
	if name := u.GetName(); name != "" {
		what = fmt.Sprintf("%s %q", want.Kind, name)
	}
	if errs := checkTypeMeta(u, want); len(errs) > 0 {
		return fmt.Errorf("decoding %s: %w", what, errs.ToAggregate())
	}
	if errs := checkShape(nil, u.Object, reflect.TypeOf(obj).Elem()); len(errs) > 0 {
		return fmt.Errorf("decoding %s: %w", what, errs.ToAggregate())
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fmt.Errorf("decoding %s: %w", what, err)
	}
	return nil
}

func checkTypeMeta(u *unstructured.Unstructured, want schema.GroupVersionKind) field.ErrorList {
	var errs field.ErrorList
	got := u.GroupVersionKind()
	if got.Kind != want.Kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), got.Kind, []string{want.Kind}))
	}
	if got.Group != want.Group || got.Version != want.Version {
		apiVersion := want.GroupVersion().String()
		if got.Group == want.Group && got.Kind == want.Kind {
			errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(),
				fmt.Sprintf("the API server serves %s only as %s", want.Kind, apiVersion)))
		} else {
			errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), u.GetAPIVersion(), []string{apiVersion}))
		}
	}
	return errs
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// hasCustomDecoding reports whether t decodes itself (metav1.Time, FieldsV1, ...); the
// converter then owns its checks.
func hasCustomDecoding(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || p.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || p.Implements(textUnmarshalerType)
}

// checkShape walks the unstructured value v alongside the Go type t and reports, with their
// paths, fields that t does not have and values whose JSON type does not fit.
func checkShape(path *field.Path, v any, t reflect.Type) field.ErrorList {
	if v == nil {
		return nil
	}
	if hasCustomDecoding(t) {
		// metav1.Time, FieldsV1 and the like: let the type judge its own value.
		data, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(data, reflect.New(t).Interface())
		}
		if err != nil {
			return field.ErrorList{field.Invalid(orRoot(path), v, err.Error())}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(path, v, t.Elem())
	case reflect.Interface:
		return nil
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return field.ErrorList{typeError(path, v, "an object")}
		}
		fields := jsonFields(t)
		var errs field.ErrorList
		for _, key := range sortedKeys(m) {
			ft, known := fields[key]
			if !known {
				errs = append(errs, field.Forbidden(child(path, key),
					fmt.Sprintf("unknown field (this object has %s)", quotedList(sortedKeys(fields)))))
				continue
			}
			errs = append(errs, checkShape(child(path, key), m[key], ft)...)
		}
		return errs
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return field.ErrorList{typeError(path, v, "an object")}
		}
		var errs field.ErrorList
		for _, key := range sortedKeys(m) {
			errs = append(errs, checkShape(path.Key(key), m[key], t.Elem())...)
		}
		return errs
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // []byte is a base64 string in JSON
			if _, ok := v.(string); !ok {
				return field.ErrorList{typeError(path, v, "a base64 string")}
			}
			return nil
		}
		s, ok := v.([]any)
		if !ok {
			return field.ErrorList{typeError(path, v, "a list")}
		}
		var errs field.ErrorList
		for i, item := range s {
			errs = append(errs, checkShape(path.Index(i), item, t.Elem())...)
		}
		return errs
	case reflect.String:
		if _, ok := v.(string); !ok {
			return field.ErrorList{typeError(path, v, "a string")}
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return field.ErrorList{typeError(path, v, "true or false")}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch n := v.(type) {
		case int64, int32, int:
		case float64:
			if n != float64(int64(n)) {
				return field.ErrorList{typeError(path, v, "an integer")}
			}
		default:
			return field.ErrorList{typeError(path, v, "an integer")}
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, int32, int, float64, float32:
		default:
			return field.ErrorList{typeError(path, v, "a number")}
		}
	}
	return nil
}

func child(path *field.Path, name string) *field.Path {
	if path == nil {
		return field.NewPath(name)
	}
	return path.Child(name)
}

func orRoot(path *field.Path) *field.Path {
	if path == nil {
		return field.NewPath("<root>")
	}
	return path
}

func typeError(path *field.Path, v any, want string) *field.Error {
	return field.TypeInvalid(orRoot(path), v, fmt.Sprintf("must be %s, not %s", want, jsonTypeName(v)))
}

func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " ")
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int32, int, float64, float32:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// jsonFields returns the JSON field names of struct type t, with inline (embedded) structs
// flattened, mapped to their Go types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := f.Anonymous && name == "" || strings.Contains(","+opts+",", ",inline,")
		if inline {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
