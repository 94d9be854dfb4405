package mhcpause

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
)

// goldenNamespace has a fixed name, so the status table reads the same on
// every run.
const goldenNamespace = "mhc-status-golden"

func TestStatusTableAndFormats(t *testing.T) {
	c := testenv.SharedCluster(t)
	g := fixedNamespace(t, c, goldenNamespace)
	create(t, c, mapi, mhc(mapi, g, "workers", nil, map[string]string{
		PausedAnnotation: "", PausedAtAnnotation: "2026-11-23T10:00:00Z", PausedByAnnotation: "alice",
	}))
	setStatus(t, c, mapi, mhc(mapi, g, "workers", nil, nil), 3, 3)
	create(t, c, mapi, mhc(mapi, g, "infra", nil, nil))
	setStatus(t, c, mapi, mhc(mapi, g, "infra", nil, nil), 1, 2)
	create(t, c, mapi, mhc(mapi, g, "masters", nil, nil))
	annotate(t, c, mapi, g, "masters", map[string]interface{}{PausedAnnotation: "true"})
	create(t, c, capi, mhc(capi, g, "workers", nil, nil))

	r := run(t, c, false, "", "status", "-n", g)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	// When someone else paused it is when the server recorded the write.
	table := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`).ReplaceAllStringFunc(r.Stdout, func(s string) string {
		if s == "2026-11-23T10:00:00Z" {
			return s
		}
		return "<write time>         "[:len(s)]
	})
	golden(t, "status.golden.txt", table)

	// The same as data.
	for _, format := range []string{"yaml", "json"} {
		r := run(t, c, false, "", "status", "-n", g, "-o", format)
		if r.Code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.Code, r.Stderr)
		}
		var rep Report
		var err error
		if format == "yaml" {
			err = yaml.UnmarshalStrict([]byte(r.Stdout), &rep)
		} else {
			err = json.Unmarshal([]byte(r.Stdout), &rep)
		}
		if err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, r.Stdout)
		}
		if len(rep.MachineHealthChecks) != 4 {
			t.Fatalf("-o %s: %d entries:\n%s", format, len(rep.MachineHealthChecks), r.Stdout)
		}
		e := rep.MachineHealthChecks[2] // workers: machine.openshift.io before cluster.x-k8s.io
		if e.Name != "workers" || e.APIVersion != "machine.openshift.io/v1beta1" || !e.Paused || e.PausedBy != Name ||
			e.PausedByUser != "alice" || e.PausedSince != "2026-11-23T10:00:00Z" || *e.CurrentHealthy != 3 || *e.ExpectedMachines != 3 {
			t.Errorf("-o %s: %+v", format, e)
		}
		if m := rep.MachineHealthChecks[1]; m.Name != "masters" || m.PausedBy != "kubectl-annotate" || m.PausedSince == "" {
			t.Errorf("-o %s: someone else's pause: %+v", format, m)
		}
	}

	// -l and --api narrow it down.
	r = run(t, c, false, "", "status", "-n", g, "--api", "capi", "-o", "json")
	if r.Code != 0 || strings.Count(r.Stdout, `"name"`) != 1 || !strings.Contains(r.Stdout, `"apiVersion": "cluster.x-k8s.io/v1beta1"`) {
		t.Errorf("--api capi: exit %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestStatusGate(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	create(t, c, capi, mhc(capi, ns, "workers", nil, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))

	// Nothing paused anywhere: resumed holds, paused does not.
	if r := run(t, c, false, "", "status", "--expect", "resumed"); r.Code != 0 {
		t.Errorf("--expect resumed with nothing paused: exit %d: %s", r.Code, r.Stderr)
	}
	r := run(t, c, false, "", "status", "-n", ns, "--expect", "paused")
	if r.Code != cli.ExitDiffers {
		t.Errorf("--expect paused with nothing paused: exit %d: %s", r.Code, r.Stderr)
	}
	want := "error: 3 MachineHealthCheck(s) not paused: " + ns + "/infra (machine.openshift.io/v1beta1), " +
		ns + "/workers (machine.openshift.io/v1beta1), " + ns + "/workers (cluster.x-k8s.io/v1beta1) (pause with: oc mhc pause)\n"
	if r.Stderr != want {
		t.Errorf("stderr\n%q, want\n%q", r.Stderr, want)
	}

	// Pause everything but the CAPI one.
	if r := run(t, c, false, "", "-n", ns, "--all", "--api", "mapi"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	r = run(t, c, false, "", "status", "-n", ns, "--expect", "paused")
	if r.Code != cli.ExitDiffers || !strings.Contains(r.Stderr, "1 MachineHealthCheck(s) not paused: "+ns+"/workers (cluster.x-k8s.io/v1beta1)") {
		t.Errorf("exit %d: %s", r.Code, r.Stderr)
	}
	if r := run(t, c, false, "", "status", "-n", ns, "--expect", "paused", "--api", "mapi"); r.Code != 0 {
		t.Errorf("--expect paused --api mapi: exit %d: %s", r.Code, r.Stderr)
	}
	// Every namespace is the default: the gate sees them.
	r = run(t, c, false, "", "status", "--expect", "resumed")
	if r.Code != cli.ExitDiffers || !strings.Contains(r.Stderr, "2 MachineHealthCheck(s) still paused: "+ns+"/infra (machine.openshift.io/v1beta1), "+ns+"/workers (machine.openshift.io/v1beta1)") {
		t.Errorf("--expect resumed: exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "PAUSED") || !strings.Contains(r.Stdout, "oc-mhc-pause") {
		t.Errorf("the table is printed with the gate:\n%s", r.Stdout)
	}

	if r := run(t, c, true, "", "-n", ns, "--all"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := run(t, c, false, "", "status", "--expect", "resumed"); r.Code != 0 {
		t.Errorf("after resume: exit %d: %s", r.Code, r.Stderr)
	}
}

func TestStatusWarnsOfAForgottenPause(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	if r := run(t, c, false, "", "-n", ns, "workers"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	const warning = "the pause was probably forgotten"

	// No ClusterVersion: the cluster cannot say, so no warning.
	r := run(t, c, false, "", "status", "-n", ns)
	if r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("without a ClusterVersion: exit %d: %s", r.Code, r.Stderr)
	}

	cv := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion",
		"metadata": map[string]interface{}{"name": "version"},
		"spec":     map[string]interface{}{"clusterID": "6a8e4ed0-3f0b-4b8a-9d1c-0d5f7e0e9a11"},
	}}
	pool := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfigPool",
		"metadata": map[string]interface{}{"name": "worker"},
		"spec":     map[string]interface{}{},
	}}
	createWithConditions(t, c, cluster.ClusterVersionResource, cv, "Progressing", "False")
	createWithConditions(t, c, cluster.MachineConfigPoolResource, pool, "Updated", "True")

	// Paused for an update that has not started yet: the cluster is idle, and that is no
	// reason to warn.
	r = run(t, c, false, "", "status", "-n", ns)
	if r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("paused just now, before the update: exit %d: %s", r.Code, r.Stderr)
	}
	// An update finished after the pause: the pause outlived it.
	finished := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	setHistory(t, c, finished)
	r = run(t, c, false, "", "status", "-n", ns)
	if want := "warning: MachineHealthCheck(s) paused while no update is in progress: 1 paused before the last update finished (" +
		finished.Format(time.RFC3339) + "): " + warning; r.Code != 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("paused before the last update finished: exit %d: %s\nwant %s", r.Code, r.Stderr, want)
	}
	// --expect paused says the pause is meant: no warning.
	if r := run(t, c, false, "", "status", "-n", ns, "--expect", "paused"); r.Code != 0 || r.Stderr != "" {
		t.Errorf("--expect paused: exit %d: %q", r.Code, r.Stderr)
	}

	// A pool still updating: an update is in progress.
	setConditions(t, c, cluster.MachineConfigPoolResource, "worker", "Updated", "False")
	if r := run(t, c, false, "", "status", "-n", ns); r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("pool updating: exit %d: %s", r.Code, r.Stderr)
	}
	setConditions(t, c, cluster.MachineConfigPoolResource, "worker", "Updated", "True")
	setConditions(t, c, cluster.ClusterVersionResource, "version", "Progressing", "True")
	if r := run(t, c, false, "", "status", "-n", ns); r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("cluster version progressing: exit %d: %s", r.Code, r.Stderr)
	}

	// Idle again, no update in the history: a pause older than a day is forgotten.
	setConditions(t, c, cluster.ClusterVersionResource, "version", "Progressing", "False")
	annotate(t, c, mapi, ns, "workers", map[string]interface{}{PausedAtAnnotation: time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)})
	if r := run(t, c, false, "", "status", "-n", ns); r.Code != 0 || !strings.Contains(r.Stderr, "1 paused for more than 24 hours: "+warning) {
		t.Errorf("paused two days ago: exit %d: %s", r.Code, r.Stderr)
	}

	// Nothing paused: nothing to warn about.
	run(t, c, true, "", "-n", ns, "workers")
	if r := run(t, c, false, "", "status", "-n", ns); r.Code != 0 || strings.Contains(r.Stderr, "warning") {
		t.Errorf("nothing paused: exit %d: %s", r.Code, r.Stderr)
	}
}

func createWithConditions(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, u *unstructured.Unstructured, typ, status string) {
	t.Helper()
	if _, err := dyn(t, c).Resource(gvr).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn(t, c).Resource(gvr).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}) })
	setConditions(t, c, gvr, u.GetName(), typ, status)
}

// setHistory records in the ClusterVersion's history one update, completed at done.
func setHistory(t *testing.T, c *testenv.Cluster, done time.Time) {
	t.Helper()
	u, err := dyn(t, c).Resource(cluster.ClusterVersionResource).Get(context.Background(), "version", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	history := []interface{}{map[string]interface{}{
		"state": "Completed", "startedTime": done.Add(-time.Hour).Format(time.RFC3339), "completionTime": done.Format(time.RFC3339),
		"version": "4.18.1", "image": "quay.io/openshift-release-dev/ocp-release@sha256:" + strings.Repeat("a", 64), "verified": true,
	}}
	if err := unstructured.SetNestedSlice(u.Object, history, "status", "history"); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn(t, c).Resource(cluster.ClusterVersionResource).UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the ClusterVersion's history: %v", err)
	}
}

func setConditions(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, name, typ, status string) {
	t.Helper()
	u, err := dyn(t, c).Resource(gvr).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds := []interface{}{map[string]interface{}{
		"type": typ, "status": status, "lastTransitionTime": "2026-11-23T10:00:00Z", "reason": "Test", "message": "set by the test",
	}}
	if gvr == cluster.ClusterVersionResource {
		_ = unstructured.SetNestedField(u.Object, map[string]interface{}{
			"desired":            map[string]interface{}{"version": "4.18.1", "image": "quay.io/openshift-release-dev/ocp-release@sha256:" + strings.Repeat("a", 64)},
			"observedGeneration": int64(1),
			"versionHash":        "x",
			"availableUpdates":   nil,
		}, "status")
	}
	if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn(t, c).Resource(gvr).UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting %s/%s %s=%s: %v", gvr.Resource, name, typ, status, err)
	}
}

func TestAClusterWithoutMachineHealthChecksHasNone(t *testing.T) {
	c := testenv.SharedCluster(t, testenv.WithoutMachineHealthChecks())
	const none = "no MachineHealthChecks: the cluster serves no MachineHealthCheck API"
	for _, args := range [][]string{
		{"status"},
		{"status", "--expect", "resumed"},
		{"-n", "openshift-machine-api", "--all"},
		{"-A", "--all"},
	} {
		r := run(t, c, false, "", args...)
		if r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, none) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	if r := run(t, c, true, "", "-A", "--all"); r.Code != 0 || !strings.Contains(r.Stderr, none) {
		t.Errorf("resume --all: exit %d: %s", r.Code, r.Stderr)
	}
	// A name is still looked up, and not found.
	if r := run(t, c, false, "", "-n", "openshift-machine-api", "workers"); r.Code != cli.ExitBadInput {
		t.Errorf("pause workers: exit %d: %s", r.Code, r.Stderr)
	}
}
