package updateservice

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	us "github.com/airgap-ocp/oc-plugins/pkg/updateservice"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is the shared test cluster, reset to a fresh OpenShift cluster's
// singletons: image.config, the proxy and ClusterVersion, none of them
// trusting anything yet.
type world struct {
	t   *testing.T
	c   *testenv.Cluster
	dyn dynamic.Interface
	dir string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := testenv.SharedCluster(t)
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, c: c, dyn: d, dir: t.TempDir()}
	w.reset()
	return w
}

// reset deletes what a test may have left and creates the singletons.
func (w *world) reset() {
	t := w.t
	t.Helper()
	ctx := context.Background()
	for _, x := range []struct {
		gvr schema.GroupVersionResource
		ns  string
	}{
		{cluster.UpdateServiceResource, us.Namespace},
		{cluster.ConfigMapResource, us.ConfigNamespace},
		{cluster.ConfigMapResource, "openshift-config-managed"},
		{cluster.SecretResource, us.ConfigNamespace},
	} {
		if err := w.dyn.Resource(x.gvr).Namespace(x.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatalf("cleaning %s in %s: %v", x.gvr.Resource, x.ns, err)
		}
	}
	for _, x := range []struct {
		gvr  schema.GroupVersionResource
		name string
		spec map[string]interface{}
	}{
		{cluster.ImageResource, cluster.ImageConfigName, map[string]interface{}{}},
		{cluster.ProxyResource, cluster.ProxyName, map[string]interface{}{}},
		{cluster.ClusterVersionResource, cluster.ClusterVersionName, map[string]interface{}{"clusterID": "6a8e4ed0-3f0b-4b8a-9d1c-0d5f7e0e9a11"}},
	} {
		err := w.dyn.Resource(x.gvr).Delete(ctx, x.name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		gvk := x.gvr.GroupVersion().WithKind(map[string]string{"images": "Image", "proxies": "Proxy", "clusterversions": "ClusterVersion"}[x.gvr.Resource])
		u := &unstructured.Unstructured{Object: map[string]interface{}{"spec": x.spec}}
		u.SetGroupVersionKind(gvk)
		u.SetName(x.name)
		if _, err := w.dyn.Resource(x.gvr).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s/%s: %v", x.gvr.Resource, x.name, err)
		}
	}
}

func (w *world) get(gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	w.t.Helper()
	u, err := w.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

func (w *world) create(gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	w.t.Helper()
	if _, err := w.dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("creating %s %s: %v", gvr.Resource, u.GetName(), err)
	}
}

// patch changes an object as someone else would, with a merge patch.
func (w *world) patch(gvr schema.GroupVersionResource, ns, name, patch string) {
	w.t.Helper()
	if _, err := w.dyn.Resource(gvr).Namespace(ns).Patch(context.Background(), name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		w.t.Fatalf("patching %s %s: %v", gvr.Resource, name, err)
	}
}

// setStatus writes status fields, as the operator or the CVO would.
func (w *world) setStatus(gvr schema.GroupVersionResource, ns, name string, status map[string]interface{}) {
	w.t.Helper()
	u := w.get(gvr, ns, name)
	if u == nil {
		w.t.Fatalf("%s %s not found", gvr.Resource, name)
	}
	u.Object["status"] = status
	if _, err := w.dyn.Resource(gvr).Namespace(ns).UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		w.t.Fatalf("setting the status of %s %s: %v", gvr.Resource, name, err)
	}
}

func configMap(ns, name string, data map[string]string) *unstructured.Unstructured {
	d := map[string]interface{}{}
	for k, v := range data {
		d[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name, "namespace": ns},
		"data":     d,
	}}
}

func data(u *unstructured.Unstructured, key string) string {
	if u == nil {
		return ""
	}
	s, _, _ := unstructured.NestedString(u.Object, "data", key)
	return s
}

// write writes a file in the test's folder and returns its path.
func (w *world) write(name, content string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// run runs oc update service with args against the test cluster.
func (w *world) run(stdin string, args ...string) testenv.Result {
	w.t.Helper()
	return testenv.Run(NewCmd, stdin, append(append([]string{}, args...), "--kubeconfig", w.c.Kubeconfig)...)
}

// resources is what oc mirror lite --graph prints for the update service:
// the UpdateService and the registry CA ConfigMap, and an IDMS that passes
// through.
func resources(name, registryCA string) string {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(registryCA), "\n", "\n    ")
	return fmt.Sprintf(`apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: release-mirrors}
spec:
  imageDigestMirrors:
  - {source: quay.io/openshift-release-dev/ocp-release, mirrors: [mirror.example.com:5000/ocp4/openshift/release-images]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: registry-ca, namespace: openshift-config}
data:
  updateservice-registry: |
%[2]s
  mirror.example.com..5000: |
%[2]s
---
apiVersion: updateservice.operator.openshift.io/v1
kind: UpdateService
metadata: {name: %[1]s, namespace: openshift-update-service}
spec:
  replicas: 1
  releases: mirror.example.com:5000/ocp4/openshift/release-images
  graphDataImage: mirror.example.com:5000/ocp4/openshift/graph-image@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`, name, indented)
}

// operate stands in for the OpenShift Update Service operator: once the
// UpdateService exists, it publishes uri as its status.policyEngineURI.
func (w *world) operate(name, uri string) {
	w.c.StandInForUpdateServiceOperator(w.t, name, uri)
}

var deleteOpts = metav1.DeleteOptions{}
