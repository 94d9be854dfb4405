package mhcpause

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
)

func TestPlans(t *testing.T) {
	tests := []struct {
		name   string
		state  State
		pause  Action
		resume Action
		force  Action
	}{
		{"not paused: pause it; resuming is a no-op", State{}, Pause, Leave, Leave},
		{"paused by us: pausing again changes nothing; resume it", State{Paused: true, Ours: true}, Leave, Resume, Resume},
		{"paused by someone else: never adopted; resumed only with --force", State{Paused: true}, Leave, Leave, Resume},
		{"our marker without the pause: pause again; resume cleans the marker", State{Ours: true}, Pause, Clean, Clean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PausePlan(tt.state); got != tt.pause {
				t.Errorf("PausePlan = %v, want %v", got, tt.pause)
			}
			if got := ResumePlan(tt.state, false); got != tt.resume {
				t.Errorf("ResumePlan = %v, want %v", got, tt.resume)
			}
			if got := ResumePlan(tt.state, true); got != tt.force {
				t.Errorf("ResumePlan(force) = %v, want %v", got, tt.force)
			}
		})
	}
}

func TestPatchAndStateAgree(t *testing.T) {
	u := mhc(mapi, "ns", "workers", nil, map[string]string{"keep": "me"})
	at := time.Date(2026, 11, 23, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	paused := applyPatch(u, Patch(Pause, at, "alice"))
	if s := StateOf(paused); !s.Paused || !s.Ours || s.By != Name || s.User != "alice" || s.Since != "2026-11-23T10:00:00Z" {
		t.Errorf("after Pause: %+v", s)
	}
	if paused.GetAnnotations()["keep"] != "me" {
		t.Errorf("other annotations lost: %v", paused.GetAnnotations())
	}
	resumed := applyPatch(paused, Patch(Resume, at, ""))
	if got := resumed.GetAnnotations(); len(got) != 1 || got["keep"] != "me" {
		t.Errorf("after Resume: %v", got)
	}
	if Patch(Leave, at, "") != nil {
		t.Error("Leave sends a patch")
	}
	// No user known: no paused-by annotation, and a stale one is removed.
	p := applyPatch(mhc(mapi, "ns", "x", nil, map[string]string{PausedByAnnotation: "old"}), Patch(Pause, at, ""))
	if _, ok := p.GetAnnotations()[PausedByAnnotation]; ok {
		t.Errorf("stale paused-by kept: %v", p.GetAnnotations())
	}
}

func TestStateOfSomeoneElsesPauseNamesTheWriter(t *testing.T) {
	u := mhc(mapi, "ns", "workers", nil, map[string]string{PausedAnnotation: ""})
	when := metav1.NewTime(time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC))
	u.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:selector":{}}}`)}},
		{Manager: "kubectl-annotate", Operation: metav1.ManagedFieldsOperationUpdate, Time: &when, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{".":{},"f:cluster.x-k8s.io/paused":{}}}}`)}},
	})
	if s := StateOf(u); !s.Paused || s.Ours || s.By != "kubectl-annotate" || s.Since != "2026-11-20T08:30:00Z" {
		t.Errorf("%+v", s)
	}
}

func TestServedAPIs(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "machine.openshift.io", Version: "v1beta1", Kind: "MachineHealthCheck"}, meta.RESTScopeNamespace)
	c := &cluster.Client{Mapper: mapper}

	apis, err := servedAPIs(c, APIAuto)
	if err != nil || len(apis) != 1 || apis[0].name != APIMAPI {
		t.Errorf("auto without the Cluster API: %v, %v", apis, err)
	}
	if _, err := servedAPIs(c, APICAPI); cli.ExitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "the cluster does not serve cluster.x-k8s.io/v1beta1/machinehealthchecks") {
		t.Errorf("capi when not served: %v", err)
	}
	// No MHC API at all is no MHC, not a failure.
	if apis, err := servedAPIs(&cluster.Client{Mapper: meta.NewDefaultRESTMapper(nil)}, APIAuto); err != nil || len(apis) != 0 {
		t.Errorf("no MHC API at all: %v, %v", apis, err)
	}
}

// connected returns Options for the test cluster, completed, as a test
// that calls the methods itself uses them.
func connected(t *testing.T, c *testenv.Cluster, args ...string) (*Options, *bytes.Buffer) {
	t.Helper()
	errOut := &bytes.Buffer{}
	o := NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: errOut})
	o.ConfigFlags = genericclioptions.NewConfigFlags(false)
	o.ConfigFlags.KubeConfig = &c.Kubeconfig
	if err := o.Complete(nil, args); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.connect(); err != nil { // Run connects for a stream; these tests call change themselves
		t.Fatal(err)
	}
	return o, errOut
}

func TestAConflictIsRetriedAndDecidedAgain(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := namespace(t, c)
	ctx := context.Background()

	// Someone pauses the MHC between our read and our patch: the patch
	// conflicts, and on the fresh object their pause is left alone.
	stale := create(t, c, mapi, mhc(mapi, ns, "workers", nil, nil))
	annotate(t, c, mapi, ns, "workers", map[string]interface{}{PausedAnnotation: ""})
	o, errOut := connected(t, c)
	o.Namespace = ns
	tg := &target{api: mhcAPIs[0], live: stale, index: -1}
	changed, err := o.change(ctx, []*target{tg})
	if err != nil || changed != 0 || tg.out != nil {
		t.Fatalf("changed %d, out %v, err %v", changed, tg.out != nil, err)
	}
	if got := states(t, c, mapi, ns, "workers"); got != "workers=theirs" {
		t.Errorf("someone else's pause was adopted: %s", got)
	}
	if !strings.Contains(errOut.String(), "already paused by kubectl-annotate") {
		t.Errorf("stderr: %s", errOut)
	}

	// Someone labels it meanwhile: the pause is sent again on the fresh
	// object, and their change is kept.
	stale = create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))
	labelled := get(t, c, mapi, ns, "infra")
	labelled.SetLabels(map[string]string{"team": "infra"})
	if _, err := dyn(t, c).Resource(mapi).Namespace(ns).Update(ctx, labelled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	o, _ = connected(t, c)
	tg = &target{api: mhcAPIs[0], live: stale, index: -1}
	if changed, err := o.change(ctx, []*target{tg}); err != nil || changed != 1 {
		t.Fatalf("changed %d, err %v", changed, err)
	}
	now := get(t, c, mapi, ns, "infra")
	if s := StateOf(now); !s.Ours || now.GetLabels()["team"] != "infra" {
		t.Errorf("after the retried pause: %+v, labels %v", s, now.GetLabels())
	}
}

// TestExamplesRun runs every line of the commands' help examples as a user
// would paste it, against MHCs in openshift-machine-api.
func TestExamplesRun(t *testing.T) {
	c := testenv.SharedCluster(t)
	ns := fixedNamespace(t, c, DefaultNamespace)
	role := map[string]string{"machine.openshift.io/cluster-api-machine-role": "worker"}
	create(t, c, mapi, mhc(mapi, ns, "workers", role, nil))
	create(t, c, mapi, mhc(mapi, ns, "infra", nil, nil))
	create(t, c, capi, mhc(capi, ns, "capi-workers", role, nil))
	list, err := dyn(t, c).Resource(mapi).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ocGet, err := list.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "list.json"), ocGet, 0o644); err != nil {
		t.Fatal(err)
	}

	ran := 0
	for _, line := range strings.Split(pauseExample+"\n"+statusExample, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		stdin := ""
		if before, after, ok := strings.Cut(line, "|"); ok {
			if strings.TrimSpace(before) != "oc get mhc -o yaml" {
				t.Fatalf("%s: unknown pipeline", line)
			}
			line, stdin = strings.TrimSpace(after), string(ocGet) // JSON is YAML
		}
		var resume bool
		var words []string
		switch {
		case strings.HasPrefix(line, "oc mhc pause"):
			words = strings.Fields(strings.TrimPrefix(line, "oc mhc pause"))
		case strings.HasPrefix(line, "oc mhc resume"):
			resume, words = true, strings.Fields(strings.TrimPrefix(line, "oc mhc resume"))
		default:
			t.Fatalf("%s: not a command of ours", line)
		}
		// Status expectations hold when the MHCs are as expected.
		if strings.Contains(line, "--expect paused") {
			run(t, c, false, "", "--all")
		} else if strings.Contains(line, "--expect resumed") {
			run(t, c, true, "", "--all")
		}
		r := run(t, c, resume, stdin, words...)
		if r.Code != 0 {
			t.Errorf("%s: exit %d: %s", line, r.Code, r.Stderr)
		}
		if r.Stdout == "" && r.Stderr == "" {
			t.Errorf("%s: printed nothing", line)
		}
		ran++
	}
	if ran != 10 {
		t.Errorf("ran %d examples, want 10", ran)
	}
}
