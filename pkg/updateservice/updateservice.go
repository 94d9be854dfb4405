// Package updateservice is the OpenShift Update Service as the plugins see
// it: the UpdateService object and the limit its name must keep, the
// registry CA ConfigMap its operator reads, CA bundles merged certificate by
// certificate, and what an update graph offers a cluster.
package updateservice

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The UpdateService kind of the OpenShift Update Service operator, and where
// its instances live.
const (
	APIVersion = "updateservice.operator.openshift.io/v1"
	Kind       = "UpdateService"
	// Namespace is where the operator is installed and watches UpdateServices.
	Namespace = "openshift-update-service"
	// GraphPath is where a policy engine answers the update graph API,
	// below its URI (status.policyEngineURI).
	GraphPath = "/api/upgrades_info/v1/graph"
	// RegistryCAKey is the key the operator reads the mirror registry's CA
	// from, in the ConfigMap image.config's additionalTrustedCA names.
	RegistryCAKey = "updateservice-registry"
	// ConfigNamespace holds the ConfigMaps image.config and the cluster
	// proxy name.
	ConfigNamespace = "openshift-config"
	// BundleKey is the key of a proxy trustedCA ConfigMap.
	BundleKey = "ca-bundle.crt"
	// DefaultBundleName is the trustedCA ConfigMap an installer-made cluster
	// uses, taken when the proxy names none.
	DefaultBundleName = "user-ca-bundle"
	// DefaultName is the UpdateService name when none is given.
	DefaultName = "update-service"
	// routeSuffix is what the operator appends to the UpdateService's
	// name to name the policy engine's route.
	routeSuffix = "-route"
)

// MaxNameLength is the longest UpdateService name in namespace whose route
// can be admitted: the router makes the host's first label
// <route name>-<namespace>, which DNS limits to 63 characters, and the
// route is <name>-route. A longer name leaves the route unadmitted
// (CreateRouteFailed) and status.policyEngineURI empty forever.
func MaxNameLength(namespace string) int {
	return validation.DNS1123LabelMaxLength - len(routeSuffix) - 1 - len(namespace)
}

// CheckName says why name cannot serve as an UpdateService in namespace, or nil.
func CheckName(name, namespace string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("%q: %s", name, errs[0])
	}
	if max := MaxNameLength(namespace); len(name) > max {
		return fmt.Errorf("%q is %d characters; in namespace %s at most %d fit the route host's 63-character label (%s%s-%s), or the route fails with CreateRouteFailed",
			name, len(name), namespace, max, name, routeSuffix, namespace)
	}
	return nil
}

// Upstream is the update graph URL of a policy engine URI, what
// ClusterVersion's spec.upstream must name.
func Upstream(policyEngineURI string) string {
	return strings.TrimSuffix(policyEngineURI, "/") + GraphPath
}

// Spec is what an UpdateService asks for.
type Spec struct {
	Replicas       int64
	Releases       string
	GraphDataImage string
}

// New returns the UpdateService named name in Namespace.
func New(name string, s Spec) *unstructured.Unstructured {
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": APIVersion,
		"kind":       Kind,
		"metadata":   map[string]interface{}{"name": name, "namespace": Namespace},
		"spec": map[string]interface{}{
			"replicas":       s.Replicas,
			"releases":       s.Releases,
			"graphDataImage": s.GraphDataImage,
		},
	}}
}

// SpecOf reads an UpdateService's spec; the error names the field that is
// missing or wrong.
func SpecOf(u *unstructured.Unstructured) (Spec, error) {
	var s Spec
	var err error
	if s.Releases, err = requiredString(u, "releases"); err != nil {
		return s, err
	}
	if s.GraphDataImage, err = requiredString(u, "graphDataImage"); err != nil {
		return s, err
	}
	r, found, err := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas")
	if err != nil || !found {
		return s, fmt.Errorf("spec.replicas: required")
	}
	switch v := r.(type) {
	case int64:
		s.Replicas = v
	case float64:
		s.Replicas = int64(v)
	default:
		return s, fmt.Errorf("spec.replicas: want a number, not %T", r)
	}
	if s.Replicas < 1 {
		return s, fmt.Errorf("spec.replicas: %d: must be at least 1", s.Replicas)
	}
	if strings.Contains(s.Releases, "://") || !strings.Contains(s.Releases, "/") {
		return s, fmt.Errorf("spec.releases: %q: want a repository, registry/path, without a scheme", s.Releases)
	}
	return s, nil
}

func requiredString(u *unstructured.Unstructured, field string) (string, error) {
	v, found, err := unstructured.NestedString(u.Object, "spec", field)
	if err != nil {
		return "", fmt.Errorf("spec.%s: %w", field, err)
	}
	if !found || v == "" {
		return "", fmt.Errorf("spec.%s: required", field)
	}
	return v, nil
}

// PolicyEngineURI is what the operator published in the UpdateService's
// status, or "".
func PolicyEngineURI(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "policyEngineURI")
	return s
}

// CheckURI says why a policy engine URI cannot be an upstream, or nil.
func CheckURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an https:// URL", uri)
	}
	return nil
}

// RegistryCAConfigMap is the ConfigMap, in ConfigNamespace, that
// image.config's additionalTrustedCA names: the mirror registry's CA under
// RegistryCAKey, which the operator reads, and under host (a registry
// host, with ".." for ":" before a port, as image.config wants it), which
// the nodes read.
func RegistryCAConfigMap(name, host string, caPEM []byte) *unstructured.Unstructured {
	data := map[string]interface{}{RegistryCAKey: string(caPEM)}
	if host != "" {
		data[strings.ReplaceAll(host, ":", "..")] = string(caPEM)
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]interface{}{"name": name, "namespace": ConfigNamespace},
		"data":       data,
	}}
}
