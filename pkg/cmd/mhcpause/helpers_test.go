package mhcpause

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	mapi = cluster.MAPIMachineHealthCheckResource
	capi = cluster.CAPIMachineHealthCheckResource
)

type result = testenv.Result

// run runs the command as a user would, as oc-mhc-pause (or, with resume,
// as oc-mhc-resume), against the test cluster.
func run(t *testing.T, c *testenv.Cluster, resume bool, stdin string, args ...string) result {
	t.Helper()
	return runAs(t, c.Kubeconfig, resume, stdin, args...)
}

func runAs(t *testing.T, kubeconfig string, resume bool, stdin string, args ...string) result {
	t.Helper()
	newCmd := func(streams genericiooptions.IOStreams) *cobra.Command { return NewCmd(streams, resume) }
	return testenv.Run(newCmd, stdin, append(append([]string{}, args...), "--kubeconfig", kubeconfig)...)
}

func dyn(t *testing.T, c *testenv.Cluster) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// namespace creates a namespace for one test, and deletes its MHCs when
// the test ends.
func namespace(t *testing.T, c *testenv.Cluster) string {
	t.Helper()
	return fixedNamespace(t, c, testenv.UniqueName("mhc"))
}

// fixedNamespace creates the namespace name unless it exists, and deletes
// its MHCs when the test ends. The namespace itself stays: envtest runs no
// namespace controller, so a deleted namespace would stay Terminating and
// refuse new objects.
func fixedNamespace(t *testing.T, c *testenv.Cluster, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	clean := func() {
		for _, gvr := range []schema.GroupVersionResource{mapi, capi} {
			if err := dyn(t, c).Resource(gvr).Namespace(name).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				t.Errorf("cleaning %s in %s: %v", gvr.GroupResource(), name, err)
			}
		}
	}
	clean()
	t.Cleanup(clean)
	return name
}

// mhc is a MachineHealthCheck as `oc create` would be given it.
func mhc(gvr schema.GroupVersionResource, ns, name string, labels map[string]string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": gvr.GroupVersion().String(),
		"kind":       "MachineHealthCheck",
		"metadata":   map[string]interface{}{"name": name, "namespace": ns},
		"spec": map[string]interface{}{
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"role": name}},
		},
	}}
	if gvr == capi {
		_ = unstructured.SetNestedField(u.Object, "cluster", "spec", "clusterName")
	}
	if labels != nil {
		u.SetLabels(labels)
	}
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	return u
}

// create creates an MHC in the cluster, as fieldManager (kubectl's name for
// `oc create` is kubectl-create).
func create(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := dyn(t, c).Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		t.Fatalf("creating %s %s/%s: %v", gvr.Group, u.GetNamespace(), u.GetName(), err)
	}
	return out
}

// setStatus sets an MHC's machine counts, as its controller would.
func setStatus(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, u *unstructured.Unstructured, healthy, expected int64) {
	t.Helper()
	u = get(t, c, gvr, u.GetNamespace(), u.GetName())
	_ = unstructured.SetNestedField(u.Object, healthy, "status", "currentHealthy")
	_ = unstructured.SetNestedField(u.Object, expected, "status", "expectedMachines")
	if _, err := dyn(t, c).Resource(gvr).Namespace(u.GetNamespace()).UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// annotate sets (or with a nil value removes) annotations as `oc annotate`
// does: a merge patch by the field manager kubectl-annotate.
func annotate(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, ns, name string, ann map[string]interface{}) {
	t.Helper()
	patch, _ := (&unstructured.Unstructured{Object: map[string]interface{}{"metadata": map[string]interface{}{"annotations": ann}}}).MarshalJSON()
	if _, err := dyn(t, c).Resource(gvr).Namespace(ns).Patch(context.Background(), name, "application/merge-patch+json", patch, metav1.PatchOptions{FieldManager: "kubectl-annotate"}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := dyn(t, c).Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pauseState summarises the pause annotations of an MHC in the cluster:
// "-" not paused, "ours" paused by this tool, "theirs" paused by someone
// else; "stale" a marker without the pause.
func pauseState(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, ns, name string) string {
	t.Helper()
	s := StateOf(get(t, c, gvr, ns, name))
	switch {
	case s.Paused && s.Ours:
		return "ours"
	case s.Paused:
		return "theirs"
	case s.Ours:
		return "stale"
	}
	return "-"
}

// states is pauseState for several MHCs, "name=state ..." in the order given.
func states(t *testing.T, c *testenv.Cluster, gvr schema.GroupVersionResource, ns string, names ...string) string {
	t.Helper()
	var out []string
	for _, n := range names {
		out = append(out, n+"="+pauseState(t, c, gvr, ns, n))
	}
	return strings.Join(out, " ")
}

func readStream(t *testing.T, s string) []manifest.Object {
	t.Helper()
	objs, err := manifest.Read(strings.NewReader(s), "stdout")
	if err != nil {
		t.Fatalf("output is not a valid stream: %v\n%s", err, s)
	}
	return objs
}

// kinds lists a stream as "Kind/name ...".
func kinds(objs []manifest.Object) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, " ")
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// rbacRule grants verbs on MachineHealthChecks of an API group.
func rbacRule(verbs []string, group string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: []string{"machinehealthchecks"}}
}

// refuse makes the API server refuse every real (not dry-run) change to the
// MHC name in namespace ns, as a cluster failing half-way through would.
func refuse(t *testing.T, c *testenv.Cluster, ns, name string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"machine.openshift.io"}, APIVersions: []string{"*"}, Resources: []string{"machinehealthchecks"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "request.dryRun || object.metadata.namespace != '" + ns + "' || object.metadata.name != '" + name + "'",
				Message:    "refused by the test",
			}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        ns,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteRefusal(t, c, ns) })

	// The policy takes effect asynchronously: wait until a real change is refused.
	probe := mhc(mapi, ns, name, nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := dyn(t, c).Resource(mapi).Namespace(ns).Patch(ctx, name, "application/merge-patch+json",
			[]byte(`{"metadata":{"labels":{"probe":"x"}}}`), metav1.PatchOptions{})
		if err != nil && strings.Contains(err.Error(), "refused by the test") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy for %s/%s never took effect (last: %v)", ns, probe.GetName(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deleteRefusal(t *testing.T, c *testenv.Cluster, ns string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, ns, metav1.DeleteOptions{})
	_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, ns, metav1.DeleteOptions{})
	// Wait until the policy no longer applies: a dry-run-free no-op change passes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := dyn(t, c).Resource(mapi).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		blocked := false
		for _, u := range list.Items {
			_, err := dyn(t, c).Resource(mapi).Namespace(ns).Patch(ctx, u.GetName(), "application/merge-patch+json", []byte(`{"metadata":{"labels":{"probe":null}}}`), metav1.PatchOptions{})
			blocked = blocked || (err != nil && strings.Contains(err.Error(), "refused by the test"))
		}
		if !blocked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy for %s stayed in effect", ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
