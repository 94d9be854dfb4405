package retire_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/retire"
)

// create makes the object of doc in the cluster and deletes it when the
// test ends.
func create(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	res := dyn.Resource(gvr).Namespace(u.GetNamespace())
	if _, err := res.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	t.Cleanup(func() { _ = res.Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}) })
}

func TestWhatAClusterUsesIsFoundThroughItsMirrors(t *testing.T) {
	ctx := context.Background()
	src, dst := testenv.StartRegistry(t), testenv.StartRegistry(t)
	old, cur := twoReleases(t, src, dst, "ocp/release")
	// A catalog image mirrored by tag, retired with the release.
	if _, err := dst.PushImage(ctx, "catalogs/redhat-operator-index:v4.99", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "configs/index.json", Data: []byte("{}")}}}}}); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Items: append([]plan.Item{{Source: "registry.redhat.io/redhat/redhat-operator-index:v4.99",
		Path: dst.Ref("catalogs/redhat-operator-index"), Tag: "v4.99", Kind: plan.Image, Origin: "isc.yaml mirror.additionalImages[0]"}}, old.plan.Items...)}
	rp, err := retire.Build(ctx, p, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}

	c := testenv.SharedCluster(t)
	mirror := dst.Ref("ocp/release")
	// The cluster pulls the source names through an IDMS, and ran 4.99.1
	// before it updated to 4.99.2 (by the mirror's name, as oc adm upgrade
	// --to-image sets it).
	create(t, c, cluster.IDMSResource, `apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: release-mirror}
spec:
  imageDigestMirrors:
  - source: `+old.rel.Repo+`
    mirrors: [`+mirror+`]
  - source: `+old.rel.ComponentRepo+`
    mirrors: [`+mirror+`]
`)
	c.SetClusterVersion(t, testenv.ReleaseRef{Version: "4.99.2", Image: mirror + "@" + cur.rel.Digest.String()},
		testenv.ReleaseRef{Version: "4.99.1", Image: old.rel.PullSpec})
	cli := old.rel.Components["cli"]
	create(t, c, cluster.PodResource, `apiVersion: v1
kind: Pod
metadata: {name: oc-cli, namespace: openshift-config}
spec:
  containers: [{name: cli, image: "`+cli+`"}]
`)
	create(t, c, cluster.CatalogSourceResource, `apiVersion: operators.coreos.com/v1alpha1
kind: CatalogSource
metadata: {name: redhat-operators, namespace: openshift-config}
spec:
  sourceType: grpc
  image: `+dst.Ref("catalogs/redhat-operator-index:v4.99")+`
`)

	// OLM v1 names the same catalog by digest.
	create(t, c, cluster.ClusterCatalogResource, `apiVersion: olm.operatorframework.io/v1
kind: ClusterCatalog
metadata: {name: redhat-operators}
spec:
  source:
    type: Image
    image: {ref: "`+dst.Ref("catalogs/redhat-operator-index")+"@"+rp.Delete[0].Digest.String()+`"}
`)

	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &c.Kubeconfig
	client, err := cluster.New(flags, "test")
	if err != nil {
		t.Fatal(err)
	}
	conflicts, warnings, err := rp.ClusterConflicts(ctx, "sandbox", client)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	var got []string
	for _, cf := range conflicts {
		got = append(got, cf.Where+" -> "+cf.Manifest.Ref())
	}
	sort.Strings(got)
	want := []string{
		"catalogsource openshift-config/redhat-operators -> " + dst.Ref("catalogs/redhat-operator-index") + "@" + rp.Delete[0].Digest.String(),
		"clustercatalog redhat-operators -> " + dst.Ref("catalogs/redhat-operator-index") + "@" + rp.Delete[0].Digest.String(),
		"clusterversion/version status.history[1].image (4.99.1) -> " + mirror + "@" + old.rel.Digest.String(),
		"pod openshift-config/oc-cli container cli -> " + mirror + cli[strings.LastIndex(cli, "@"):],
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("conflicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(conflicts) > 0 && !strings.Contains(conflicts[0].String(), "cluster sandbox uses") {
		t.Errorf("a conflict does not name the cluster: %s", conflicts[0])
	}

	// Without the IDMS, the history's source name is not pulled from this
	// mirror: only what names the mirror itself is in use.
	dyn, _ := dynamic.NewForConfig(c.Config)
	if err := dyn.Resource(cluster.IDMSResource).Delete(ctx, "release-mirror", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	conflicts, _, err = rp.ClusterConflicts(ctx, "sandbox", client)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 2 || !strings.HasPrefix(conflicts[0].Where, "catalogsource") || !strings.HasPrefix(conflicts[1].Where, "clustercatalog") {
		t.Errorf("without the IDMS: %v", conflicts)
	}
}
