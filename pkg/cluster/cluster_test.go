// The tests are outside the package so that they can check the exit code
// pkg/cli gives each error, as the commands do: pkg/cli imports pkg/cluster.
package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newClient(t *testing.T) *cluster.Client {
	t.Helper()
	c := testenv.SharedCluster(t)
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &c.Kubeconfig
	client, err := cluster.New(flags, "cluster-test")
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func idms(name, source string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "config.openshift.io/v1",
		"kind":       "ImageDigestMirrorSet",
		"metadata":   map[string]interface{}{"name": name},
		"spec": map[string]interface{}{"imageDigestMirrors": []interface{}{
			map[string]interface{}{"source": source, "mirrors": []interface{}{"mirror.local/" + name}},
		}},
	}}
}

func TestApplyGetListDelete(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	name := testenv.UniqueName("cluster")

	if _, err := c.Apply(ctx, idms(name, "quay.io/a"), true); err != nil {
		t.Fatalf("dry-run apply: %v", err)
	}
	if got, err := c.Get(ctx, cluster.IDMSResource, "", name); err != nil || got != nil {
		t.Fatalf("after a dry run the object exists: %v, %v", got, err)
	}
	applied, err := c.Apply(ctx, idms(name, "quay.io/a"), false)
	if err != nil {
		t.Fatal(err)
	}
	if mf := applied.GetManagedFields(); len(mf) == 0 || mf[0].Manager != "cluster-test" {
		t.Errorf("field manager not recorded: %+v", mf)
	}
	list, err := c.List(ctx, cluster.IDMSResource, "", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range list {
		found = found || u.GetName() == name
	}
	if !found {
		t.Errorf("List does not return %s", name)
	}

	// A delete guarded by what was read refuses an object changed since.
	stale, err := c.Get(ctx, cluster.IDMSResource, "", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, idms(name, "quay.io/b"), false); err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctx, stale, false)
	if cli.ExitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "changed after it was read") {
		t.Errorf("deleting a stale object: %v (exit %d)", err, cli.ExitCode(err))
	}
	if got, _ := c.Get(ctx, cluster.IDMSResource, "", name); got == nil {
		t.Fatal("the changed object was deleted")
	}

	fresh, err := c.Get(ctx, cluster.IDMSResource, "", name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, fresh, true); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	if got, _ := c.Get(ctx, cluster.IDMSResource, "", name); got == nil {
		t.Fatal("a dry-run delete deleted")
	}
	if err := c.Delete(ctx, fresh, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(ctx, cluster.IDMSResource, "", name); got != nil {
		t.Fatal("not deleted")
	}
	if err := c.Delete(ctx, fresh, false); err != nil {
		t.Errorf("deleting what is already gone: %v", err)
	}
}

func TestApplyOfAnInvalidObjectIsBadInput(t *testing.T) {
	c := newClient(t)
	bad := idms(testenv.UniqueName("cluster"), "quay.io/a")
	entries, _, _ := unstructured.NestedSlice(bad.Object, "spec", "imageDigestMirrors")
	entries[0].(map[string]interface{})["mirrorSourcePolicy"] = "Sometimes"
	_ = unstructured.SetNestedSlice(bad.Object, entries, "spec", "imageDigestMirrors")
	_, err := c.Apply(context.Background(), bad, true)
	if cli.ExitCode(err) != cli.ExitBadInput {
		t.Errorf("exit %d for %v, want 2", cli.ExitCode(err), err)
	}
}

func TestUnreachableClusterFailsWithExit3(t *testing.T) {
	flags := genericclioptions.NewConfigFlags(false)
	server := "https://127.0.0.1:1"
	flags.APIServer = &server
	c, err := cluster.New(flags, "cluster-test")
	if err != nil {
		// Discovery is lazy; a failure here must still be a cluster failure.
		if cli.ExitCode(err) != cli.ExitFailed {
			t.Fatalf("New: %v (exit %d)", err, cli.ExitCode(err))
		}
		return
	}
	saved := cluster.Retry
	cluster.Retry = retry.Policy{Attempts: 2, Base: time.Millisecond}
	defer func() { cluster.Retry = saved }()
	_, err = c.List(context.Background(), cluster.ICSPResource, "", "")
	if cli.ExitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "listing imagecontentsourcepolicies.operator.openshift.io") {
		t.Errorf("List: %v (exit %d)", err, cli.ExitCode(err))
	}
}
