package signature

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKeyDigest(t *testing.T) {
	hex := strings.TrimPrefix(redhatDigest, "sha256:")
	for key, want := range map[string]string{
		"sha256-" + hex:                  redhatDigest, // the manual runbook's key
		"sha256-" + hex + "-1":           redhatDigest, // oc's
		"sha256-" + hex + "-extra":       redhatDigest,
		"sha256-" + hex + "1":            "",
		"sha256-" + hex[:63]:             "",
		"sha256=" + hex:                  "",
		"SHA256-" + hex:                  "",
		"sha256-" + strings.ToUpper(hex): "",
	} {
		got, ok := KeyDigest(key)
		if got != want || ok != (want != "") {
			t.Errorf("KeyDigest(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

func TestCheckConfigMap(t *testing.T) {
	hex := strings.TrimPrefix(redhatDigest, "sha256:")
	good := fixtureSig(t, redhatDigest)
	cm := func(mutate func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "release-image-4.16.3", Namespace: ConfigMapNamespace, Labels: map[string]string{ConfigMapLabel: ""}},
			BinaryData: map[string][]byte{"sha256-" + hex: good},
		}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	kr := keyring(t, "redhat.txt")

	t.Run("the manual runbook's ConfigMap verifies, whatever its name", func(t *testing.T) {
		got, err := CheckConfigMap(cm(nil), kr)
		if err != nil || len(got) != 1 || got[0].Err != nil || got[0].Digest != redhatDigest {
			t.Fatalf("CheckConfigMap = %+v, %v", got, err)
		}
	})
	t.Run("each signature is checked against the digest its key names", func(t *testing.T) {
		other := strings.TrimPrefix(otherDigest, "sha256:")
		got, err := CheckConfigMap(cm(func(c *corev1.ConfigMap) {
			c.BinaryData["sha256-"+other+"-1"] = good
		}), kr)
		if err != nil || len(got) != 2 {
			t.Fatalf("CheckConfigMap = %+v, %v", got, err)
		}
		// Keys sort: otherDigest's 000... comes first.
		if !errors.Is(got[0].Err, ErrDigestMismatch) || got[1].Err != nil {
			t.Fatalf("verdicts = %+v", got)
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   string
	}{
		{"a ConfigMap without the label", func(c *corev1.ConfigMap) { c.Labels = nil }, "no label"},
		{"a ConfigMap in another namespace", func(c *corev1.ConfigMap) { c.Namespace = "default" }, "only from namespace openshift-config-managed"},
		{"signatures in data", func(c *corev1.ConfigMap) { c.Data = map[string]string{"sha256-" + hex: "x"} }, "belong in binaryData"},
		{"no signatures", func(c *corev1.ConfigMap) { c.BinaryData = nil }, "no signatures"},
		{"a key that names no digest", func(c *corev1.ConfigMap) { c.BinaryData["signature-1"] = good }, `"signature-1"`},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := CheckConfigMap(cm(tc.mutate), kr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
