package signature

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	// ConfigMapNamespace is where the Cluster Version Operator looks for signature ConfigMaps.
	ConfigMapNamespace = "openshift-config-managed"
	// ConfigMapLabel marks a ConfigMap as carrying release signatures; its value is empty.
	ConfigMapLabel = "release.openshift.io/verification-signatures"
)

// ConfigMap builds the ConfigMap `oc adm release mirror` writes for digest:
// name sha256-<hex>, binaryData sha256-<hex>-<N> (N from 1) holding the raw
// signatures in order. The caller passes only verified signatures.
func ConfigMap(digest string, sigs [][]byte) (*corev1.ConfigMap, error) {
	if err := ValidateDigest(digest); err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("signature ConfigMap for %s: no signatures", digest)
	}
	name := strings.Replace(digest, ":", "-", 1)
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ConfigMapNamespace,
			Labels:    map[string]string{ConfigMapLabel: ""},
		},
		BinaryData: map[string][]byte{},
	}
	for i, sig := range sigs {
		if len(sig) == 0 {
			return nil, fmt.Errorf("signature ConfigMap for %s: signature %d is empty", digest, i+1)
		}
		cm.BinaryData[name+"-"+strconv.Itoa(i+1)] = append([]byte(nil), sig...)
	}
	return cm, nil
}

// IsSignatureConfigMap reports whether cm carries the release-signature label.
func IsSignatureConfigMap(cm *corev1.ConfigMap) bool {
	_, ok := cm.Labels[ConfigMapLabel]
	return ok
}

// FieldError is a ConfigMap field that does not hold what it must, such as a
// binaryData value that is not base64.
type FieldError struct {
	// Field is the field's path: binaryData.sha256-<hex>-1.
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ConfigMapFromObject converts a ConfigMap as read from a stream or the API
// (unstructured content) into a ConfigMap. A binaryData or data value that is
// not what a ConfigMap holds is a *FieldError naming the field, so that
// bad input can be pointed at.
func ConfigMapFromObject(obj map[string]interface{}) (*corev1.ConfigMap, error) {
	if bd, found := obj["binaryData"]; found && bd != nil {
		m, ok := bd.(map[string]interface{})
		if !ok {
			return nil, &FieldError{Field: "binaryData", Err: fmt.Errorf("want a map of keys to base64 values, not %T", bd)}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := m[k].(string)
			if !ok {
				return nil, &FieldError{Field: "binaryData." + k, Err: fmt.Errorf("want a base64 string, not %T", m[k])}
			}
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return nil, &FieldError{Field: "binaryData." + k, Err: fmt.Errorf("not base64: %w", err)}
			}
		}
	}
	if d, found := obj["data"]; found && d != nil {
		m, ok := d.(map[string]interface{})
		if !ok {
			return nil, &FieldError{Field: "data", Err: fmt.Errorf("want a map of keys to strings, not %T", d)}
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				return nil, &FieldError{Field: "data." + k, Err: fmt.Errorf("want a string, not %T", v)}
			}
		}
	}
	var cm corev1.ConfigMap
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &cm); err != nil {
		return nil, fmt.Errorf("not a valid ConfigMap: %w", err)
	}
	return &cm, nil
}

// FromConfigMap reads back a ConfigMap made by ConfigMap: it checks the name,
// namespace, label and keys and returns the digest and the signatures in
// key order (1, 2, ...).
func FromConfigMap(cm *corev1.ConfigMap) (string, [][]byte, error) {
	if cm == nil {
		return "", nil, fmt.Errorf("signature ConfigMap: nil")
	}
	where := "ConfigMap " + cm.Namespace + "/" + cm.Name
	if !IsSignatureConfigMap(cm) {
		return "", nil, fmt.Errorf("%s: no label %s", where, ConfigMapLabel)
	}
	if cm.Namespace != ConfigMapNamespace {
		return "", nil, fmt.Errorf("%s: namespace must be %s", where, ConfigMapNamespace)
	}
	hexPart, ok := strings.CutPrefix(cm.Name, "sha256-")
	digest := "sha256:" + hexPart
	if !ok || ValidateDigest(digest) != nil {
		return "", nil, fmt.Errorf("%s: name must be sha256-<64 hex digits>", where)
	}
	if len(cm.Data) > 0 {
		return "", nil, fmt.Errorf("%s: signatures belong in binaryData, found data", where)
	}
	if len(cm.BinaryData) == 0 {
		return "", nil, fmt.Errorf("%s: no signatures in binaryData", where)
	}
	byIndex := map[int][]byte{}
	for key, value := range cm.BinaryData {
		rest, ok := strings.CutPrefix(key, cm.Name+"-")
		n, err := strconv.Atoi(rest)
		if !ok || err != nil || n < 1 || strconv.Itoa(n) != rest {
			return "", nil, fmt.Errorf("%s: binaryData key %q: want %s-<N> with N from 1", where, key, cm.Name)
		}
		if len(value) == 0 {
			return "", nil, fmt.Errorf("%s: binaryData key %q: empty", where, key)
		}
		if len(value) > maxSignatureSize {
			return "", nil, fmt.Errorf("%s: binaryData key %q: larger than %d bytes", where, key, maxSignatureSize)
		}
		byIndex[n] = value
	}
	indexes := make([]int, 0, len(byIndex))
	for n := range byIndex {
		indexes = append(indexes, n)
	}
	sort.Ints(indexes)
	sigs := make([][]byte, 0, len(indexes))
	for i, n := range indexes {
		if n != i+1 {
			return "", nil, fmt.Errorf("%s: binaryData key %s-%d missing", where, cm.Name, i+1)
		}
		sigs = append(sigs, byIndex[n])
	}
	return digest, sigs, nil
}
