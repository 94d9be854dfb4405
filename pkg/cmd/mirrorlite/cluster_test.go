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
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/mirrorset"
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

// checkReleaseGoesToMirror renders registries.conf from cfg as the MCO
// does and checks that the release and each component, pulled by digest,
// come from the mirror repository to.
func checkReleaseGoesToMirror(t *testing.T, cfg mirrorset.Config, rel *testenv.Release, to string) {
	t.Helper()
	conf, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	pulls := map[string]string{rel.PullSpec: to + "@" + rel.Digest.String()}
	for _, p := range rel.Components {
		pulls[p] = to + p[strings.LastIndex(p, "@"):]
	}
	checkPullsGoToMirror(t, conf, pulls)
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

// TestICSPAppliesToAClusterOlderThan413: `--icsp | oc apply -f -` is for
// clusters that serve no ImageDigestMirrorSet; what it prints must apply
// there whole, and the ICSP must send the release's pulls to the mirror.
func TestICSPAppliesToAClusterOlderThan413(t *testing.T) {
	e := newEnv(t)
	old := testenv.SharedCluster(t, testenv.Before413())
	rel := e.src.PushRelease(t, testenv.ReleaseSpec{Components: 3, Version: "4.12.40"})
	to := e.dst.Ref("ocp4/release")
	stdout, stderr, code := e.run(t, "", "release", rel.Tag, "--to", "docker://"+to, "--name", testenv.UniqueName("release"), "--icsp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := decodeStream(t, stdout)
	if got := strings.Join(kinds(objs), ","); got != "ImageContentSourcePolicy" {
		t.Fatalf("printed %s, want the ImageContentSourcePolicy alone", got)
	}
	serverDryRun(t, old, stdout) // the whole stream applies on the older cluster
	icsp, err := mirrorset.DecodeICSP(objs[0].Unstructured)
	if err != nil {
		t.Fatal(err)
	}
	checkReleaseGoesToMirror(t, mirrorset.Config{ICSPs: []*operatorv1alpha1.ImageContentSourcePolicy{icsp}}, rel, to)
}
