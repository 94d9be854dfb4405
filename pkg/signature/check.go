package signature

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Checked is the verdict on one signature a ConfigMap carries.
type Checked struct {
	// Key is the binaryData key the signature was read from.
	Key string
	// Digest is the release digest the key names.
	Digest string
	// Signature is set when the signature verified for Digest.
	Signature *Signature
	// Err says why it did not verify.
	Err error
}

// KeyDigest returns the digest a signature ConfigMap's binaryData key names,
// as the Cluster Version Operator reads it: a key is sha256-<64 hex digits>,
// optionally followed by "-" and anything (oc writes sha256-<hex>-1; the
// manual runbook writes sha256-<hex>).
func KeyDigest(key string) (string, bool) {
	hexPart, ok := strings.CutPrefix(key, "sha256-")
	if !ok || len(hexPart) < 64 {
		return "", false
	}
	if rest := hexPart[64:]; rest != "" && !strings.HasPrefix(rest, "-") {
		return "", false
	}
	d := "sha256:" + hexPart[:64]
	if ValidateDigest(d) != nil {
		return "", false
	}
	return d, true
}

// CheckConfigMap verifies every signature a release-signature ConfigMap
// carries, each against the digest its key names, and returns one verdict
// per key in key order. The error is for a ConfigMap the Cluster Version
// Operator would not read at all, or one that carries something other than
// signatures.
func CheckConfigMap(cm *corev1.ConfigMap, kr Keyring) ([]Checked, error) {
	where := "ConfigMap " + cm.Namespace + "/" + cm.Name
	if !IsSignatureConfigMap(cm) {
		return nil, fmt.Errorf("%s: no label %s", where, ConfigMapLabel)
	}
	if cm.Namespace != ConfigMapNamespace {
		return nil, fmt.Errorf("%s: the Cluster Version Operator reads signatures only from namespace %s", where, ConfigMapNamespace)
	}
	for key := range cm.Data {
		return nil, fmt.Errorf("%s: data key %q: signatures belong in binaryData", where, key)
	}
	if len(cm.BinaryData) == 0 {
		return nil, fmt.Errorf("%s: no signatures in binaryData", where)
	}
	keys := make([]string, 0, len(cm.BinaryData))
	for key := range cm.BinaryData {
		if _, ok := KeyDigest(key); !ok {
			return nil, fmt.Errorf("%s: binaryData key %q: want sha256-<64 hex digits>[-N]", where, key)
		}
		keys = append(keys, key)
	}
	sort.Strings(keys)
	out := make([]Checked, 0, len(keys))
	for _, key := range keys {
		d, _ := KeyDigest(key)
		sig, err := Verify(cm.BinaryData[key], d, kr)
		out = append(out, Checked{Key: key, Digest: d, Signature: sig, Err: err})
	}
	return out, nil
}
