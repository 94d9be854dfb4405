package mirrorlite

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/image/v5/pkg/sysregistriesv2"
	"github.com/containers/image/v5/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
)

// applyObject server-side applies an IDMS as `oc apply -f -` would, reads
// it back, and deletes it when the test ends.
func applyObject(t *testing.T, c *testenv.Cluster, obj *unstructured.Unstructured) error {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res := d.Resource(cluster.IDMSResource)
	if _, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
		return err
	}
	t.Cleanup(func() { _ = res.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) })
	got, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	want, _, _ := unstructured.NestedSlice(obj.Object, "spec", "imageDigestMirrors")
	stored, _, _ := unstructured.NestedSlice(got.Object, "spec", "imageDigestMirrors")
	if len(want) != len(stored) {
		t.Errorf("the server stored %d entries, the command printed %d", len(stored), len(want))
	}
	return nil
}

// serverDryRun sends stream to the API server as `oc apply --server-side
// --dry-run=server -f -` does, so the real schemas validate every object.
func serverDryRun(t *testing.T, c *testenv.Cluster, stream string) {
	t.Helper()
	bin, err := testenv.TestbinDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", c.Kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(stream)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the API server refused the objects: %v\n%s", err, out)
	}
}

// checkPullsGoToMirror loads conf (a rendered registries.conf) with
// containers/image, as CRI-O on a node does, and checks that each pull
// spec's first pull source is the wanted mirror pull spec.
func checkPullsGoToMirror(t *testing.T, conf []byte, pulls map[string]string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "registries.conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	sys := &types.SystemContext{SystemRegistriesConfPath: path, SystemRegistriesConfDirPath: filepath.Join(dir, "registries.conf.d")}
	for pull, want := range pulls {
		reg, err := sysregistriesv2.FindRegistry(sys, pull)
		if err != nil || reg == nil {
			t.Errorf("%s: no registries.conf entry (%v)", pull, err)
			continue
		}
		named, err := reference.ParseNormalizedNamed(pull)
		if err != nil {
			t.Fatal(err)
		}
		sources, err := reg.PullSourcesFromReference(named)
		if err != nil || len(sources) == 0 {
			t.Errorf("%s: no pull sources (%v)", pull, err)
			continue
		}
		if got := sources[0].Reference.String(); got != want {
			t.Errorf("%s is pulled first from %s, want the mirror %s", pull, got, want)
		}
	}
}
