package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestMigrationChain takes the ICSPs a cluster carries from before 4.13
// through oc-icsp-migrate --from-cluster --check --apply --prune: the IDMSs
// replace them, the ICSPs are gone, and the registries.conf every node must
// have is byte for byte what it was.
func TestMigrationChain(t *testing.T) {
	e, _ := clusterEnv(t)
	release, ubi := testenv.UniqueName("e2e-release"), testenv.UniqueName("e2e-ubi")
	e.write(t, "icsps.yaml", []byte(fmt.Sprintf(`apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: %s}
spec:
  repositoryDigestMirrors:
  - {source: quay.io/openshift-release-dev/ocp-release, mirrors: [bastion.ocp4.example.com:5000/ocp4/openshift4]}
  - {source: quay.io/openshift-release-dev/ocp-v4.0-art-dev, mirrors: [bastion.ocp4.example.com:5000/ocp4/openshift4]}
---
apiVersion: operator.openshift.io/v1alpha1
kind: ImageContentSourcePolicy
metadata: {name: %s}
spec:
  repositoryDigestMirrors:
  - {source: registry.access.redhat.com/ubi8/ubi-minimal, mirrors: [example.io/example/ubi-minimal, example.com/example/ubi-minimal]}
  - {source: registry.redhat.io, mirrors: [mirror.example.com]}
  - {source: registry.redhat.io/openshift4, mirrors: [mirror.example.com/redhat]}
`, release, ubi)))
	e.write(t, "image-cluster.yaml", []byte(imageCluster))
	e.must(t, "kubectl apply -f image-cluster.yaml -f icsps.yaml")
	before := e.must(t, "oc-registries-verify render").stdout
	if !strings.Contains(before, "mirror.example.com/redhat") {
		t.Fatalf("the ICSPs are not in the rendered registries.conf:\n%s", before)
	}

	// The proof alone changes nothing.
	check := e.must(t, "oc-icsp-migrate --from-cluster --check")
	for _, name := range []string{release, ubi} {
		if !strings.Contains(check.stdout, "kind: ImageDigestMirrorSet") || !strings.Contains(check.stdout, "name: "+name) {
			t.Errorf("--check did not print the IDMS %s:\n%s", name, check.stdout)
		}
	}
	e.must(t, "kubectl get imagecontentsourcepolicy "+release+" "+ubi)

	// For real.
	e.must(t, "oc-icsp-migrate --from-cluster --check --apply --prune -o name")
	e.must(t, "kubectl get imagedigestmirrorset "+release+" "+ubi)
	left := e.must(t, "kubectl get imagecontentsourcepolicy -o name").stdout
	for _, name := range []string{release, ubi} {
		if strings.Contains(left, "/"+name+"\n") {
			t.Errorf("ICSP %s was not pruned: %s", name, left)
		}
	}
	if after := e.must(t, "oc-registries-verify render").stdout; after != before {
		t.Errorf("registries.conf changed with the migration:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Again: nothing is left to do, and that is not an error.
	e.must(t, "oc-icsp-migrate --from-cluster --check --apply --prune -o name")
	e.must(t, "kubectl delete imagedigestmirrorset "+release+" "+ubi)
}
