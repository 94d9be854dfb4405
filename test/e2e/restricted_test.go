package e2e

import (
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func rule(group, resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
}

// TestRBACDenialLeavesNothingHalfDone runs the cluster-writing plugins as a
// user who may do part of the job: each exits 3 with one line naming what
// was refused, and the cluster is as it was.
func TestRBACDenialLeavesNothingHalfDone(t *testing.T) {
	e, c := clusterEnv(t)
	read := []string{"get", "list", "watch"}

	// oc icsp migrate --apply --prune by a user who may apply IDMSs but not delete ICSPs.
	name := testenv.UniqueName("e2e-rbac")
	e.write(t, "icsp.yaml", []byte(fmt.Sprintf(`apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: %s}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/e2e-rbac/x, mirrors: [mirror.example.com/e2e-rbac/x]}
`, name)))
	e.must(t, "kubectl apply -f icsp.yaml")
	migrator := c.AddUser(t, "migrator",
		rule("operator.openshift.io", "imagecontentsourcepolicies", read...),
		rule("config.openshift.io", "*", append(read, "create", "patch", "update")...),
		rule("machineconfiguration.openshift.io", "*", read...))
	r := e.sh(t, "", "oc-icsp-migrate --from-cluster --check --apply --prune --kubeconfig "+migrator.Kubeconfig)
	checkDenied(t, r, "delete")
	if out := e.sh(t, "", "kubectl get imagedigestmirrorset "+name); out.code == 0 {
		t.Errorf("the IDMS was applied although the ICSP it replaces could not be deleted")
		e.sh(t, "", "kubectl delete imagedigestmirrorset "+name)
	}
	e.must(t, "kubectl get imagecontentsourcepolicy "+name)
	e.must(t, "kubectl delete -f icsp.yaml")

	// oc release sig --apply by a user who may not write ConfigMaps.
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.16.3", Components: 1})
	viewer := c.AddUser(t, "viewer", rule("", "configmaps", read...))
	r = e.sh(t, "", "oc-release-sig --digest "+m.rel.Digest.String()+" --keyring "+m.keyFile+" --store "+m.store+" --apply --kubeconfig "+viewer.Kubeconfig)
	checkDenied(t, r, "configmaps")
	if out := e.sh(t, "", "kubectl -n openshift-config-managed get configmap sha256-"+m.rel.Digest.Encoded()); out.code == 0 {
		t.Errorf("the signature ConfigMap was created by a user who may not")
	}
}

func checkDenied(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 3 {
		t.Errorf("exit %d, want 3:\n%s", r.code, r.stderr)
	}
	last := strings.TrimRight(r.stderr, "\n")
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.HasPrefix(last, "error: ") || !strings.Contains(last, want) {
		t.Errorf("the error line does not say %q was refused: %q", want, last)
	}
}
