package catalog

import (
	"fmt"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	configv1 "github.com/openshift/api/config/v1"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// MarketplaceNamespace is where OpenShift's catalog sources live.
const MarketplaceNamespace = "openshift-marketplace"

// defaultNames are the names OpenShift gives the catalog sources of Red
// Hat's indexes; some operators and runbooks refer to them.
var defaultNames = map[string]string{
	"redhat-operator-index":    "redhat-operators",
	"certified-operator-index": "certified-operators",
	"community-operator-index": "community-operators",
	"redhat-marketplace-index": "redhat-marketplace",
}

// SourceName is the CatalogSource (and ClusterCatalog) name of a catalog:
// cs-<repository name>-<tag>, as oc-mirror names them, or with
// defaultName OpenShift's own name for Red Hat's indexes.
func SourceName(catalog string, defaultName bool) string {
	repo, tag := catalog, ""
	if named, err := reference.ParseNormalizedNamed(strings.TrimPrefix(catalog, "docker://")); err == nil {
		repo = reference.Path(named)
		if t, ok := named.(reference.Tagged); ok {
			tag = t.Tag()
		}
	}
	base := repo[strings.LastIndex(repo, "/")+1:]
	if n, ok := defaultNames[base]; ok && defaultName {
		return n
	}
	name := "cs-" + base
	if tag != "" {
		name += "-" + tag
	}
	return dnsLabel(name)
}

// dnsLabel makes s a valid object name of at most 63 characters.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	return out
}

// Objects are what makes a cluster use a mirrored catalog: a CatalogSource
// for OLM and a ClusterCatalog for OLM v1, both naming the image by
// digest so the cluster gets exactly what was mirrored.
func Objects(name, image string) ([]*unstructured.Unstructured, error) {
	cs := &operatorsv1alpha1.CatalogSource{
		TypeMeta:   metav1.TypeMeta{APIVersion: "operators.coreos.com/v1alpha1", Kind: "CatalogSource"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: MarketplaceNamespace},
		Spec: operatorsv1alpha1.CatalogSourceSpec{
			SourceType:  operatorsv1alpha1.SourceTypeGrpc,
			Image:       image,
			DisplayName: name + " (mirrored)",
		},
	}
	u, err := manifest.ToUnstructured(cs)
	if err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(u.Object, "spec", "icon") // a struct, not a pointer: empty otherwise
	cc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "olm.operatorframework.io/v1",
		"kind":       "ClusterCatalog",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"source": map[string]any{"type": "Image", "image": map[string]any{"ref": image}},
		},
	}}
	return []*unstructured.Unstructured{u, cc}, nil
}

// DisableDefaultSources is the OperatorHub change that stops a
// disconnected cluster from trying the default catalog sources.
func DisableDefaultSources() (*unstructured.Unstructured, error) {
	hub := &configv1.OperatorHub{
		TypeMeta:   metav1.TypeMeta{APIVersion: "config.openshift.io/v1", Kind: "OperatorHub"},
		ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
		Spec:       configv1.OperatorHubSpec{DisableAllDefaultSources: true},
	}
	u, err := manifest.ToUnstructured(hub)
	if err != nil {
		return nil, fmt.Errorf("OperatorHub: %w", err)
	}
	return u, nil
}
