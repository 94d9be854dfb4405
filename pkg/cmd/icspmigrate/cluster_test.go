package icspmigrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// The tests below use --from-cluster, which reads every ICSP in the cluster,
// so they run one after another and each leaves the mirror objects as it
// found them: none.

func dyn(t *testing.T, c *testenv.Cluster) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func serverDryRun(ctx context.Context, c *testenv.Cluster, obj *unstructured.Unstructured) error {
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	_, err = d.Resource(cluster.IDMSResource).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "test", DryRun: []string{metav1.DryRunAll}})
	return err
}

// cleanCluster removes every mirror object, now and when the test ends.
func cleanCluster(t *testing.T, c *testenv.Cluster) {
	t.Helper()
	clean := func() {
		for _, gvr := range []schema.GroupVersionResource{cluster.ICSPResource, cluster.IDMSResource, cluster.ITMSResource} {
			if err := dyn(t, c).Resource(gvr).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				t.Fatalf("cleaning %s: %v", gvr.Resource, err)
			}
		}
	}
	clean()
	t.Cleanup(clean)
}

// createFrom creates the ICSPs of a testdata file in the cluster, as a user
// would have with `oc create -f`.
func createFrom(t *testing.T, c *testenv.Cluster, path string) {
	t.Helper()
	objs, err := manifest.ReadFiles([]string{path}, nil, manifest.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "ImageContentSourcePolicy" {
			continue
		}
		u := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": o.GetAPIVersion(), "kind": o.GetKind(),
			"metadata": map[string]interface{}{"name": o.GetName(), "labels": toIface(o.GetLabels())},
			"spec":     o.Object["spec"],
		}}
		if _, err := dyn(t, c).Resource(cluster.ICSPResource).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ICSP %s: %v", o.GetName(), err)
		}
	}
}

func toIface(m map[string]string) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func names(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource) string {
	t.Helper()
	list, err := dyn(t, c).Resource(gvr).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, i := range list.Items {
		n = append(n, i.GetName())
	}
	return strings.Join(n, " ")
}

func TestFromClusterCheckApplyPrune(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	createFrom(t, c, "testdata/cluster-icsps.yaml")

	r := run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--check", "--apply", "--prune")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := names(t, c, cluster.ICSPResource); got != "" {
		t.Errorf("ICSPs left after --prune: %s", got)
	}
	if got := names(t, c, cluster.IDMSResource); got != "example ubi8repo" {
		t.Errorf("IDMSs in the cluster: %q", got)
	}
	if got := kinds(readStream(t, r.Stdout)); got != "ImageDigestMirrorSet/example ImageDigestMirrorSet/ubi8repo" {
		t.Errorf("stdout: %s", got)
	}
	for _, want := range []string{"imagedigestmirrorset.config.openshift.io/example applied", "imagecontentsourcepolicy.operator.openshift.io/ubi8repo deleted"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	idms, err := dyn(t, c).Resource(cluster.IDMSResource).Get(context.Background(), "ubi8repo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	entries, _, _ := unstructured.NestedSlice(idms.Object, "spec", "imageDigestMirrors")
	if len(entries) != 6 {
		t.Errorf("ubi8repo IDMS has %d entries, want the ICSP's 6", len(entries))
	}

	// Running it again finds nothing left to do.
	r = run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--check", "--apply", "--prune")
	if r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, "no ImageContentSourcePolicy to convert") {
		t.Errorf("second run: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}

func TestDryRunsChangeNothing(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	createFrom(t, c, "testdata/cluster-icsps.yaml")
	for _, mode := range []string{"server", "client"} {
		r := run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--apply", "--prune", "--dry-run="+mode)
		if r.Code != 0 {
			t.Fatalf("--dry-run=%s: exit %d: %s", mode, r.Code, r.Stderr)
		}
		if got := names(t, c, cluster.ICSPResource); got != "example ubi8repo" {
			t.Errorf("--dry-run=%s: ICSPs now %q", mode, got)
		}
		if got := names(t, c, cluster.IDMSResource); got != "" {
			t.Errorf("--dry-run=%s: IDMSs created: %q", mode, got)
		}
		if !strings.Contains(r.Stderr, "ubi8repo deleted (") {
			t.Errorf("--dry-run=%s: stderr does not say what would be deleted:\n%s", mode, r.Stderr)
		}
	}
}

func TestPruneRefusesWhatWouldChangeNodes(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	createFrom(t, c, "testdata/cluster-icsps.yaml")

	r := run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--apply", "--prune", "--source-policy", "NeverContactSource")
	if r.Code != cli.ExitDiffers {
		t.Fatalf("exit %d, want 1: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "+  blocked = true") {
		t.Errorf("no diff on stderr:\n%s", r.Stderr)
	}
	if got := names(t, c, cluster.IDMSResource); got != "" {
		t.Errorf("IDMSs applied despite the failed check: %q", got)
	}
	if got := names(t, c, cluster.ICSPResource); got != "example ubi8repo" {
		t.Errorf("ICSPs now %q", got)
	}
}

func TestPruneRefusesAnICSPThatIsNotTheOneConverted(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	// The cluster's "mirror-ocp" points somewhere else than the file's.
	other := filepath.Join(t.TempDir(), "other.yaml")
	data, _ := os.ReadFile("testdata/mixed-stream.yaml")
	if err := os.WriteFile(other, []byte(strings.ReplaceAll(string(data), "mirror.registry.com:443/ocp/release", "elsewhere.example.com/ocp")), 0o644); err != nil {
		t.Fatal(err)
	}
	createFrom(t, c, other)

	r := run(t, "", "--kubeconfig", c.Kubeconfig, "-f", "testdata/mixed-stream.yaml", "--apply", "--prune")
	if r.Code != cli.ExitDiffers {
		t.Fatalf("exit %d, want 1: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "imagecontentsourcepolicy/mirror-ocp in the cluster differs from the one converted (testdata/mixed-stream.yaml: document 2)") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if got := names(t, c, cluster.IDMSResource); got != "" {
		t.Errorf("IDMSs applied: %q", got)
	}
	if got := names(t, c, cluster.ICSPResource); got != "mirror-ocp redhat-operator-index" {
		t.Errorf("ICSPs now %q", got)
	}
}

func TestApplyFromAFileKeepsOtherICSPs(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	createFrom(t, c, "testdata/cluster-icsps.yaml")
	createFrom(t, c, "testdata/mixed-stream.yaml")

	// Only mirror-ocp and redhat-operator-index are converted; example and
	// ubi8repo stay, and the check counts them on both sides. The stream's
	// own IDMS (ubi9repo) passes through to stdout but is not applied: --apply
	// applies what the command made, and `oc apply -f -` the rest.
	r := run(t, "", "--kubeconfig", c.Kubeconfig, "-f", "testdata/mixed-stream.yaml", "--apply", "--prune")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := names(t, c, cluster.ICSPResource); got != "example ubi8repo" {
		t.Errorf("ICSPs now %q", got)
	}
	if got := names(t, c, cluster.IDMSResource); got != "mirror-ocp redhat-operator-index" {
		t.Errorf("IDMSs now %q", got)
	}
}

// TestExamplesRun runs every line of the command's help examples as a user
// would paste it, against the test cluster.
func TestExamplesRun(t *testing.T) {
	c := testenv.SharedCluster(t)
	cleanCluster(t, c)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/mixed-stream.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "icsp.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile("testdata/cluster-icsps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	ran := 0
	for _, line := range strings.Split(example, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		createFrom(t, c, filepath.Join(wd, "testdata/cluster-icsps.yaml"))
		// Each pipeline stage that is ours is run; `oc get imagecontentsourcepolicy -o yaml`
		// is stood in for by what it prints.
		var stage string
		for _, s := range strings.Split(line, "|") {
			if strings.Contains(s, "oc icsp migrate") {
				stage = strings.TrimSpace(s)
			}
		}
		// The examples quote nothing, so splitting on blanks is what a shell does.
		words := strings.Fields(strings.TrimPrefix(stage, "oc icsp migrate"))
		stdin := ""
		if strings.Contains(line, "oc get imagecontentsourcepolicy -o yaml |") {
			stdin = string(list)
		}
		if strings.Contains(line, ">") {
			words = words[:len(words)-2] // the shell's redirection
		}
		r := run(t, stdin, append(words, "--kubeconfig", c.Kubeconfig)...)
		if r.Code != 0 {
			t.Errorf("%s: exit %d: %s", line, r.Code, r.Stderr)
		}
		if r.Stdout == "" {
			t.Errorf("%s: printed nothing", line)
		}
		ran++
		cleanCluster(t, c)
	}
	if ran != 5 {
		t.Errorf("ran %d examples, want 5", ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "idms-files", "imagedigestmirrorset_mirror-ocp.yaml")); err != nil {
		t.Errorf("the --dest-dir example wrote no file: %v", err)
	}
}

func TestAClusterOlderThan413KeepsItsICSPs(t *testing.T) {
	c := testenv.SharedCluster(t, testenv.Before413())
	clean := func() {
		if err := dyn(t, c).Resource(cluster.ICSPResource).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	clean()
	t.Cleanup(clean)
	createFrom(t, c, "testdata/cluster-icsps.yaml")

	// The conversion and its proof need no IDMS from the cluster.
	r := run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--check")
	if r.Code != 0 || kinds(readStream(t, r.Stdout)) != "ImageDigestMirrorSet/example ImageDigestMirrorSet/ubi8repo" {
		t.Errorf("--check: exit %d, stdout %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	// Applying them is refused, before anything changes.
	r = run(t, "", "--kubeconfig", c.Kubeconfig, "--from-cluster", "--check", "--apply", "--prune")
	if r.Code != cli.ExitBadInput || !strings.Contains(r.Stderr, "the cluster does not serve imagedigestmirrorsets.config.openshift.io (OpenShift before 4.13)") {
		t.Errorf("--apply --prune: exit %d: %s", r.Code, r.Stderr)
	}
	if got := names(t, c, cluster.ICSPResource); got != "example ubi8repo" {
		t.Errorf("ICSPs left: %q", got)
	}
}
