package signature

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// VerificationConfigMapAnnotation marks the ConfigMaps in ConfigMapNamespace
// whose verifier-public-key-* entries are the keys the Cluster Version
// Operator trusts.
const VerificationConfigMapAnnotation = "release.openshift.io/verification-config-map"

// VerifierKeyring reads the keys the Cluster Version Operator trusts from the
// ConfigMaps of ConfigMapNamespace (as listed from the cluster); ConfigMaps
// without the annotation are skipped. An empty keyring is no error.
func VerifierKeyring(configMaps []*unstructured.Unstructured) (Keyring, error) {
	var kr Keyring
	for _, u := range configMaps {
		if _, ok := u.GetAnnotations()[VerificationConfigMapAnnotation]; !ok {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(u.Object, "data")
		for key, armored := range data {
			if !strings.HasPrefix(key, "verifier-public-key-") {
				continue
			}
			one, err := ReadKeyring(strings.NewReader(armored))
			if err != nil {
				return kr, fmt.Errorf("ConfigMap %s/%s key %s: %w", u.GetNamespace(), u.GetName(), key, err)
			}
			kr = kr.Merge(one)
		}
	}
	return kr, nil
}
