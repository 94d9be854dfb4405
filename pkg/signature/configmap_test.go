package signature

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestConfigMapShape(t *testing.T) {
	sigs := [][]byte{[]byte("first"), []byte("second")}
	cm, err := ConfigMap(redhatDigest, sigs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(redhatDigest, "sha256:")
	want := `apiVersion: v1
binaryData:
  sha256-` + hex + `-1: Zmlyc3Q=
  sha256-` + hex + `-2: c2Vjb25k
kind: ConfigMap
metadata:
  labels:
    release.openshift.io/verification-signatures: ""
  name: sha256-` + hex + `
  namespace: openshift-config-managed
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConfigMapRoundTrip(t *testing.T) {
	raw := fixtureSig(t, redhatDigest)
	cm, err := ConfigMap(redhatDigest, [][]byte{raw, fixtureSig(t, ciDigest)})
	if err != nil {
		t.Fatal(err)
	}
	// Through YAML, as it travels in a stream.
	data, err := yaml.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	var back corev1.ConfigMap
	if err := yaml.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	d, sigs, err := FromConfigMap(&back)
	if err != nil {
		t.Fatal(err)
	}
	if d != redhatDigest || len(sigs) != 2 || !bytes.Equal(sigs[0], raw) || !bytes.Equal(sigs[1], fixtureSig(t, ciDigest)) {
		t.Fatalf("digest %s, %d signatures", d, len(sigs))
	}
}

func TestConfigMapRejects(t *testing.T) {
	if _, err := ConfigMap("sha256:abc", [][]byte{[]byte("x")}); err == nil {
		t.Error("bad digest accepted")
	}
	if _, err := ConfigMap(redhatDigest, nil); err == nil {
		t.Error("no signatures accepted")
	}
	good := func() *corev1.ConfigMap {
		cm, err := ConfigMap(redhatDigest, [][]byte{[]byte("a"), []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		return cm
	}
	name := good().Name
	for _, tc := range []struct {
		name, want string
		edit       func(*corev1.ConfigMap)
	}{
		{"no label", "no label", func(cm *corev1.ConfigMap) { cm.Labels = nil }},
		{"other namespace", "namespace", func(cm *corev1.ConfigMap) { cm.Namespace = "default" }},
		{"name not a digest", "name must be", func(cm *corev1.ConfigMap) { cm.Name = "release-image-4.16.0" }},
		{"key of another digest", "binaryData key", func(cm *corev1.ConfigMap) {
			cm.BinaryData["sha256-"+strings.Repeat("0", 64)+"-3"] = []byte("c")
		}},
		{"key numbered from 0", "binaryData key", func(cm *corev1.ConfigMap) { cm.BinaryData[name+"-0"] = []byte("c") }},
		{"key with leading zero", "binaryData key", func(cm *corev1.ConfigMap) { cm.BinaryData[name+"-03"] = []byte("c") }},
		{"gap in numbering", "missing", func(cm *corev1.ConfigMap) { delete(cm.BinaryData, name+"-1") }},
		{"empty signature", "empty", func(cm *corev1.ConfigMap) { cm.BinaryData[name+"-2"] = nil }},
		{"no signatures", "no signatures", func(cm *corev1.ConfigMap) { cm.BinaryData = nil }},
		{"text data", "data", func(cm *corev1.ConfigMap) { cm.Data = map[string]string{name + "-3": "x"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := good()
			tc.edit(cm)
			_, _, err := FromConfigMap(cm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestConfigMapFromObjectNamesTheBadField(t *testing.T) {
	key := "sha256-" + strings.Repeat("a", 64) + "-1"
	cm := func(binaryData interface{}) map[string]interface{} {
		return map[string]interface{}{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata":   map[string]interface{}{"name": "sha256-" + strings.Repeat("a", 64), "namespace": ConfigMapNamespace},
			"binaryData": binaryData,
		}
	}
	for _, tc := range []struct {
		name  string
		obj   map[string]interface{}
		field string
	}{
		{"a value that is not base64", cm(map[string]interface{}{key: "!!!not base64"}), "binaryData." + key},
		{"the second key of two", cm(map[string]interface{}{key: "AAAA", key[:len(key)-1] + "2": "AA=A"}), "binaryData." + key[:len(key)-1] + "2"},
		{"a value that is not a string", cm(map[string]interface{}{key: int64(3)}), "binaryData." + key},
		{"binaryData that is not a map", cm("AAAA"), "binaryData"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigMapFromObject(tc.obj)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming field %s", err, tc.field)
			}
		})
	}
	got, err := ConfigMapFromObject(cm(map[string]interface{}{key: "AAEC"}))
	if err != nil || string(got.BinaryData[key]) != "\x00\x01\x02" {
		t.Fatalf("a good ConfigMap: %v, %q", err, got.BinaryData[key])
	}
}
