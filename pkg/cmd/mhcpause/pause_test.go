package mhcpause

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
)

func TestInvokedAsResume(t *testing.T) {
	tests := []struct {
		argv0 string
		want  bool
	}{
		{"oc-mhc-pause", false},
		{"/usr/local/bin/oc-mhc-pause", false},
		{"/usr/local/bin/oc-mhc-resume", true},
		{"oc-mhc-resume", true},
		{"/home/u/.krew/bin/kubectl-mhc_pause", false},
		{"/home/u/.krew/bin/kubectl-mhc_resume", true},
		{`C:\krew\bin\kubectl-mhc_resume.exe`, true},
		{"./bin/oc-mhc-resume-backup", false},
	}
	for _, tt := range tests {
		if got := InvokedAsResume(tt.argv0); got != tt.want {
			t.Errorf("InvokedAsResume(%q) = %v, want %v", tt.argv0, got, tt.want)
		}
	}
}

func TestPauseAndResumeByName(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	for _, n := range []string{"workers", "infra", "masters"} {
		create(t, c, mapi, mhc(mapi, ns, n, nil, nil))
	}

	r := run(t, c, false, "", "-n", ns, "workers", "infra", "-o", "yaml")
	if r.Code != 0 {
		t.Fatalf("pause: exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers", "infra", "masters"); got != "workers=ours infra=ours masters=-" {
		t.Errorf("after pause: %s", got)
	}
	objs := readStream(t, r.Stdout)
	if got := kinds(objs); got != "MachineHealthCheck/infra MachineHealthCheck/workers" {
		t.Errorf("stdout: %s", got)
	}
	for _, o := range objs {
		ann := o.GetAnnotations()
		if _, ok := ann[PausedAnnotation]; !ok || ann[PausedAtAnnotation] == "" {
			t.Errorf("printed %s without the pause and our marker: %v", o.GetName(), ann)
		}
		if _, err := time.Parse(time.RFC3339, ann[PausedAtAnnotation]); err != nil {
			t.Errorf("marker is not a time: %v", err)
		}
		if len(o.GetManagedFields()) != 0 {
			t.Errorf("managedFields printed")
		}
	}
	if want := "machinehealthcheck.machine.openshift.io/workers in " + ns + ": paused"; !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
	}
	before := get(t, c, mapi, ns, "workers").GetResourceVersion()

	// Twice: nothing changes, nothing is printed on stdout.
	r = run(t, c, false, "", "-n", ns, "workers", "infra")
	if r.Code != 0 || r.Stdout != "" {
		t.Fatalf("second pause: exit %d, stdout %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "workers in "+ns+": already paused by oc-mhc-pause since ") {
		t.Errorf("second pause stderr:\n%s", r.Stderr)
	}
	if after := get(t, c, mapi, ns, "workers").GetResourceVersion(); after != before {
		t.Errorf("second pause changed the object (resourceVersion %s -> %s)", before, after)
	}

	// Resume, as oc-mhc-resume, and with --resume.
	r = run(t, c, true, "", "-n", ns, "workers", "-o", "name")
	if r.Code != 0 || r.Stdout != "machinehealthcheck.machine.openshift.io/workers\n" {
		t.Fatalf("resume: exit %d, stdout %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	r = run(t, c, false, "", "-n", ns, "--resume", "infra", "masters")
	if r.Code != 0 {
		t.Fatalf("--resume: exit %d: %s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "masters in "+ns+": not paused: nothing to do") {
		t.Errorf("resuming what is not paused:\n%s", r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers", "infra", "masters"); got != "workers=- infra=- masters=-" {
		t.Errorf("after resume: %s", got)
	}
	if ann := get(t, c, mapi, ns, "workers").GetAnnotations(); len(ann) != 0 {
		t.Errorf("annotations left after resume: %v", ann)
	}
}

func TestSelectedMHCsPrintOneLineEachAsKubectlAnnotate(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))
	for _, tc := range []struct {
		resume bool
		args   []string
		want   string
	}{
		{false, []string{"--all", "--dry-run=server"}, "machinehealthcheck.machine.openshift.io/infra paused (server dry run)\nmachinehealthcheck.machine.openshift.io/workers paused (server dry run)\n"},
		{false, []string{"--all"}, "machinehealthcheck.machine.openshift.io/infra paused\nmachinehealthcheck.machine.openshift.io/workers paused\n"},
		{false, []string{"--all"}, ""}, // nothing left to change
		{true, []string{"workers"}, "machinehealthcheck.machine.openshift.io/workers resumed\n"},
	} {
		r := run(t, c, tc.resume, "", append([]string{"-n", ns}, tc.args...)...)
		if r.Code != 0 || r.Stdout != tc.want {
			t.Errorf("resume=%t %v: exit %d, stdout %q, want %q\n%s", tc.resume, tc.args, r.Code, r.Stdout, tc.want, r.Stderr)
		}
	}
}

func TestANameNotFoundChangesNothing(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	r := run(t, c, false, "", "-n", ns, "workers", "nope")
	if r.Code != cli.ExitBadInput {
		t.Fatalf("exit %d, want 2: %s", r.Code, r.Stderr)
	}
	if want := `error: machinehealthcheck "nope" not found in namespace ` + ns + ": nothing was changed\n"; r.Stderr != want {
		t.Errorf("stderr %q, want %q", r.Stderr, want)
	}
	if got := states(t, c, mapi, ns, "workers"); got != "workers=-" {
		t.Errorf("changed: %s", got)
	}
}

func TestAllAndSelectorCoverBothAPIs(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns, other := namespace(t, c), namespace(t, c)
	worker := map[string]string{"role": "worker"}
	create(t, c, mapi, mhc(mapi, ns, "workers", worker, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))
	create(t, c, capi, mhc(capi, ns, "capi-workers", worker, nil))
	create(t, c, mapi, mhc(mapi, other, "workers", worker, nil))
	create(t, c, mapi, mhc(mapi, other, "infra", nil, nil))

	// -l in one namespace: the labelled MHCs of both APIs there.
	r := run(t, c, false, "", "-n", ns, "-l", "role=worker", "-o", "yaml")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := kinds(readStream(t, r.Stdout)); got != "MachineHealthCheck/workers MachineHealthCheck/capi-workers" {
		t.Errorf("stdout: %s", got)
	}
	got := states(t, c, mapi, ns, "workers", "infra") + " " + states(t, c, capi, ns, "capi-workers") + " " + states(t, c, mapi, other, "workers", "infra")
	if got != "workers=ours infra=- capi-workers=ours workers=- infra=-" {
		t.Errorf("after -l: %s", got)
	}

	// --api mapi leaves the Cluster API's alone.
	r = run(t, c, true, "", "-n", ns, "--all", "--api", "mapi")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers") + " " + states(t, c, capi, ns, "capi-workers"); got != "workers=- capi-workers=ours" {
		t.Errorf("after resume --api mapi: %s", got)
	}

	// -A -l: every namespace.
	r = run(t, c, false, "", "-A", "-l", "role=worker", "-o", "name")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	got = states(t, c, mapi, ns, "workers", "infra") + " " + states(t, c, mapi, other, "workers", "infra")
	if got != "workers=ours infra=- workers=ours infra=-" {
		t.Errorf("after -A -l: %s", got)
	}
	// capi-workers was paused already: not printed again.
	if got := strings.Count(r.Stdout, "machinehealthcheck.machine.openshift.io/workers"); got != 2 || strings.Contains(r.Stdout, "cluster.x-k8s.io") {
		t.Errorf("-o name printed %q", r.Stdout)
	}
	r = run(t, c, true, "", "-A", "-l", "role=worker")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}

	// --all in the namespace, both APIs.
	r = run(t, c, false, "", "-n", other, "--all", "--api", "auto")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, other, "workers", "infra") + " " + states(t, c, mapi, ns, "workers"); got != "workers=ours infra=ours workers=-" {
		t.Errorf("after --all: %s", got)
	}
	r = run(t, c, false, "", "-n", ns, "--all", "--api", "capi", "--resume")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, capi, ns, "capi-workers"); got != "capi-workers=-" {
		t.Errorf("after resume --api capi: %s", got)
	}
}

func TestStreamInputPassesOtherObjectsThrough(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	create(t, c, capi, mhc(capi, ns, "capi-workers", nil, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))

	// What `oc get mhc,cm -o yaml` prints: a List, here with a ConfigMap
	// among the MHCs and one MHC without a namespace (-n applies).
	stream := `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: keep-me, namespace: ` + ns + `}
  data: {a: b}
- apiVersion: machine.openshift.io/v1beta1
  kind: MachineHealthCheck
  metadata: {name: workers, namespace: ` + ns + `}
- apiVersion: cluster.x-k8s.io/v1beta1
  kind: MachineHealthCheck
  metadata: {name: capi-workers}
---
apiVersion: v1
kind: Secret
metadata: {name: also-me}
`
	r := run(t, c, false, stream, "-n", ns)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	objs := readStream(t, r.Stdout)
	if got := kinds(objs); got != "ConfigMap/keep-me MachineHealthCheck/workers MachineHealthCheck/capi-workers Secret/also-me" {
		t.Errorf("stdout: %s", got)
	}
	if d, _, _ := unstructured.NestedString(objs[0].Object, "data", "a"); d != "b" || objs[0].GetResourceVersion() != "" {
		t.Errorf("ConfigMap changed on its way through: %v", objs[0].Object)
	}
	if got := states(t, c, mapi, ns, "workers", "infra") + " " + states(t, c, capi, ns, "capi-workers"); got != "workers=ours infra=- capi-workers=ours" {
		t.Errorf("after stream pause: %s", got)
	}

	// Resuming from -f - with the same stream; the MHCs already resumed
	// are left out of stdout, the rest passes through.
	r = run(t, c, true, stream, "-n", ns, "-f", "-", "--api", "mapi")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := kinds(readStream(t, r.Stdout)); got != "ConfigMap/keep-me MachineHealthCheck/workers MachineHealthCheck/capi-workers Secret/also-me" {
		t.Errorf("stdout: %s", got)
	}
	if got := states(t, c, mapi, ns, "workers") + " " + states(t, c, capi, ns, "capi-workers"); got != "workers=- capi-workers=ours" {
		t.Errorf("after resume --api mapi: %s", got)
	}
	r = run(t, c, true, stream, "-n", ns, "-f", "-")
	if got := kinds(readStream(t, r.Stdout)); r.Code != 0 || got != "ConfigMap/keep-me MachineHealthCheck/capi-workers Secret/also-me" {
		t.Errorf("exit %d, stdout %s: %s", r.Code, got, r.Stderr)
	}

	// An MHC the cluster does not have: exit 2 naming the document, and
	// the MHC before it in the stream is not paused either.
	bad := stream + "---\napiVersion: machine.openshift.io/v1beta1\nkind: MachineHealthCheck\nmetadata: {name: gone}\n"
	r = run(t, c, false, bad, "-n", ns)
	if r.Code != cli.ExitBadInput {
		t.Fatalf("exit %d, want 2: %s", r.Code, r.Stderr)
	}
	if !strings.HasPrefix(r.Stderr, "error: <stdin>: document 3: metadata.name: ") || !strings.Contains(r.Stderr, `"gone" not found`) || strings.Count(r.Stderr, "\n") != 1 {
		t.Errorf("stderr: %q", r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers"); got != "workers=-" {
		t.Errorf("bad input changed something: %s", got)
	}
}

func TestSomeoneElsesPauseIsLeftAlone(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))
	// The runbook's way: oc annotate mhc infra cluster.x-k8s.io/paused=""
	annotate(t, c, mapi, ns, "infra", map[string]interface{}{PausedAnnotation: ""})
	before := get(t, c, mapi, ns, "infra").GetResourceVersion()

	r := run(t, c, false, "", "-n", ns, "--all", "-o", "name")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if r.Stdout != "machinehealthcheck.machine.openshift.io/workers\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "infra in "+ns+": already paused by kubectl-annotate since ") || !strings.Contains(r.Stderr, "not adopted") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	if after := get(t, c, mapi, ns, "infra").GetResourceVersion(); after != before {
		t.Errorf("someone else's paused MHC was changed")
	}

	// Resume: ours only.
	r = run(t, c, true, "", "-n", ns, "--all")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers", "infra"); got != "workers=- infra=theirs" {
		t.Errorf("after resume: %s", got)
	}
	if !strings.Contains(r.Stderr, "infra in "+ns+": paused by kubectl-annotate since ") || !strings.Contains(r.Stderr, "--force resumes it") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}

	// --force resumes it too.
	r = run(t, c, true, "", "-n", ns, "--all", "--force")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "workers", "infra"); got != "workers=- infra=-" {
		t.Errorf("after resume --force: %s", got)
	}
	if !strings.Contains(r.Stderr, "infra in "+ns+": resumed (--force: it was paused by kubectl-annotate)") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}

	// A marker whose pause someone removed by hand is cleaned up on resume,
	// and replaced on the next pause.
	run(t, c, false, "", "-n", ns, "workers")
	annotate(t, c, mapi, ns, "workers", map[string]interface{}{PausedAnnotation: nil})
	if got := states(t, c, mapi, ns, "workers"); got != "workers=stale" {
		t.Fatalf("setup: %s", got)
	}
	r = run(t, c, true, "", "-n", ns, "workers")
	if got := states(t, c, mapi, ns, "workers"); r.Code != 0 || got != "workers=-" {
		t.Errorf("resume of a stale marker: exit %d, %s: %s", r.Code, got, r.Stderr)
	}
}

func TestDryRunsChangeNothing(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	create(t, c, capi, mhc(capi, ns, "workers", nil, nil))
	before := get(t, c, mapi, ns, "workers").GetResourceVersion()

	for _, mode := range []string{"client", "server"} {
		r := run(t, c, false, "", "-n", ns, "workers", "--dry-run="+mode, "-o", "yaml")
		if r.Code != 0 {
			t.Fatalf("%s: exit %d: %s", mode, r.Code, r.Stderr)
		}
		objs := readStream(t, r.Stdout)
		if got := kinds(objs); got != "MachineHealthCheck/workers MachineHealthCheck/workers" {
			t.Errorf("%s: stdout %s", mode, got)
		}
		for _, o := range objs {
			if _, ok := o.GetAnnotations()[PausedAnnotation]; !ok {
				t.Errorf("%s: printed object is not paused: %v", mode, o.GetAnnotations())
			}
		}
		label := map[string]string{"client": "(dry run)", "server": "(server dry run)"}[mode]
		if !strings.Contains(r.Stderr, "workers in "+ns+": paused "+label) {
			t.Errorf("%s: stderr:\n%s", mode, r.Stderr)
		}
		if got := states(t, c, mapi, ns, "workers") + " " + states(t, c, capi, ns, "workers"); got != "workers=- workers=-" {
			t.Errorf("%s dry run changed the cluster: %s", mode, got)
		}
	}
	if after := get(t, c, mapi, ns, "workers").GetResourceVersion(); after != before {
		t.Errorf("dry runs changed the object")
	}
}

func TestAUserWithoutPatchRightsGetsExit3AndNothingChanges(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	create(t, c, mapi, mhc(mapi, ns, "a-workers", nil, nil))
	create(t, c, mapi, mhc(mapi, ns, "b-infra", nil, nil))
	read := []string{"get", "list", "watch"}
	u := c.AddUser(t, "viewer", rbacRule(read, "machine.openshift.io"), rbacRule(read, "cluster.x-k8s.io"))

	r := runAs(t, u.Kubeconfig, false, "", "-n", ns, "--all")
	if r.Code != cli.ExitFailed {
		t.Fatalf("exit %d, want 3: %s", r.Code, r.Stderr)
	}
	if strings.Count(r.Stderr, "\n") != 1 || !strings.HasPrefix(r.Stderr, "error: not allowed to patch machinehealthchecks.machine.openshift.io in namespace \""+ns+"\"") ||
		!strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("stderr is not one clear line naming the verb and resource: %q", r.Stderr)
	}
	if strings.Contains(r.Stderr, "BEGIN") || strings.Contains(r.Stderr, "token") {
		t.Errorf("credentials in the message: %q", r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("stdout %q", r.Stdout)
	}
	if got := states(t, c, mapi, ns, "a-workers", "b-infra"); got != "a-workers=- b-infra=-" {
		t.Errorf("changed: %s", got)
	}

	// Without list rights either: still one line, exit 3.
	none := c.AddUser(t, "nobody", rbacRule([]string{"get"}, "config.openshift.io"))
	r = runAs(t, none.Kubeconfig, false, "", "-n", ns, "--all")
	if r.Code != cli.ExitFailed || !strings.HasPrefix(r.Stderr, "error: not allowed to list machinehealthchecks.machine.openshift.io in namespace") {
		t.Errorf("exit %d: %q", r.Code, r.Stderr)
	}
	r = runAs(t, none.Kubeconfig, false, "", "status")
	if r.Code != cli.ExitFailed || !strings.HasPrefix(r.Stderr, "error: not allowed to list machinehealthchecks.machine.openshift.io") {
		t.Errorf("status: exit %d: %q", r.Code, r.Stderr)
	}
}

func TestBadUsageIsExit2(t *testing.T) {
	c := testenv.SharedCluster(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "--all"}, "name MachineHealthChecks, or use --all or -l, not both"},
		{[]string{"--all", "-l", "a=b"}, "--all and -l cannot be used together"},
		{[]string{"-f", "x.yaml", "--all"}, "-f selects the MachineHealthChecks in the stream"},
		{[]string{"-A", "a"}, "-A cannot be used with names"},
		{[]string{"-A"}, "-A needs --all or -l"},
		{[]string{"--force", "--all"}, "--force needs --resume"},
		{[]string{"--api", "both", "--all"}, `--api "both": must be mapi, capi or auto`},
		{[]string{"-l", "a in (", "-n", "x"}, `-l "a in (":`},
		{[]string{"--all", "--dry-run=maybe"}, "dry-run value (maybe)"},
		{[]string{"status", "--expect", "gone"}, `--expect "gone": must be paused or resumed`},
		{[]string{"status", "-o", "name"}, `-o "name": status prints a table, yaml or json`},
		{[]string{"status", "extra"}, `unknown command "extra"`},
		{[]string{"../x"}, `machinehealthcheck name "../x": a lowercase RFC 1123 subdomain`},
		{[]string{"--resume", "a/b"}, `machinehealthcheck name "a/b"`},
		{[]string{"--all", "-n", "../ns"}, `namespace "../ns"`},
		{[]string{"status", "-n", "a/b"}, `namespace "a/b"`},
	} {
		r := run(t, c, false, "", tt.args...)
		if r.Code != cli.ExitBadInput || !strings.Contains(r.Stderr, tt.want) || strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.Code, r.Stderr, tt.want)
		}
	}
}

// TestAFailureHalfWayReportsWhatChanged makes the API server refuse the real
// (not the dry-run) patch of one MHC, with a ValidatingAdmissionPolicy: the
// MHCs changed before it are printed and listed, and a second run, once the
// cluster lets it, finishes the job.
func TestAFailureHalfWayReportsWhatChanged(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	for _, n := range []string{"a", "b", "c"} {
		create(t, c, mapi, mhc(mapi, ns, n, nil, nil))
	}
	refuse(t, c, ns, "b")

	r := run(t, c, false, "", "-n", ns, "--all", "-o", "name")
	if r.Code != cli.ExitFailed {
		t.Fatalf("exit %d, want 3: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "a", "b", "c"); got != "a=ours b=- c=-" {
		t.Errorf("after the failure: %s", got)
	}
	if r.Stdout != "machinehealthcheck.machine.openshift.io/a\n" {
		t.Errorf("stdout %q: the changed MHC is not printed", r.Stdout)
	}
	last := r.Stderr[strings.LastIndex(strings.TrimSuffix(r.Stderr, "\n"), "\n")+1:]
	if !strings.Contains(r.Stderr, "a in "+ns+": paused\n") || !strings.HasPrefix(last, "error: ") ||
		!strings.Contains(last, "refused by the test") || !strings.Contains(last, "1 MachineHealthChecks were paused before this, listed above; run the command again to finish") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}

	deleteRefusal(t, c, ns)
	if r := run(t, c, false, "", "-n", ns, "--all"); r.Code != 0 {
		t.Fatalf("second run: exit %d: %s", r.Code, r.Stderr)
	}
	if got := states(t, c, mapi, ns, "a", "b", "c"); got != "a=ours b=ours c=ours" {
		t.Errorf("after the second run: %s", got)
	}
}

func TestHelpNamesTheResumeFilesOcAndKubectlRun(t *testing.T) {
	help := NewCmd(genericiooptions.NewTestIOStreamsDiscard(), false).Long
	for file, command := range map[string]string{
		"oc-mhc-resume": "oc mhc resume", "kubectl-mhc-resume": "kubectl mhc resume", "kubectl-mhc_resume": "kubectl mhc-resume",
	} {
		if got := cli.DisplayName(file, ""); got != command || !InvokedAsResume(file) {
			t.Errorf("%s runs as %q (resume: %t), want %q", file, got, InvokedAsResume(file), command)
		}
		// Help names the file and the words oc or kubectl run it for.
		_, words, _ := strings.Cut(command, " ")
		if !strings.Contains(help, file) || !strings.Contains(help, "'"+words+"'") {
			t.Errorf("help does not name %s, which runs as '%s':\n%s", file, command, help)
		}
	}
}

func TestNoClusterIsAskedWhenNoneIsConfigured(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBECONFIG", filepath.Join(dir, "none"))
	t.Setenv("HOME", dir)
	stream := filepath.Join(dir, "stream.yaml")
	os.WriteFile(stream, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: passes, namespace: x}\n"), 0o644)
	newCmd := func(streams genericiooptions.IOStreams) *cobra.Command { return NewCmd(streams, false) }
	// No MHC in the stream: nothing to look up, no cluster needed.
	r := testenv.Run(newCmd, "", "-f", stream)
	if r.Code != 0 || !strings.Contains(r.Stdout, "name: passes") {
		t.Errorf("-f without an MHC and without a kubeconfig: exit %d, stdout %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	// A cluster is needed and none is configured: one line, before any request.
	r = testenv.Run(newCmd, "", "status")
	if r.Code != cli.ExitBadInput || r.Stderr != "error: "+cluster.ErrNoCluster.Error()+"\n" {
		t.Errorf("status without a kubeconfig: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
