package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// TestUpdateServiceChain runs the local update service's part of the
// runbook with the built binaries, piped as the README shows: mirror with
// the graph, apply the update service (everything else passes through to
// kubectl apply), then the gate before oc adm upgrade, which fails until
// the cluster is offered the update and passes once it is. The operator
// and the CVO do not run here: their stand-ins publish the policy engine's
// URI and ClusterVersion's status as they would.
func TestUpdateServiceChain(t *testing.T) {
	e, c := clusterEnv(t)
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.16.3", Components: 4})
	m.src.MustPushImage(t, "ubi9/ubi:latest", testenv.GraphBaseImage)
	e.write(t, "graph-data.tar.gz", testenv.GraphData)
	to := m.dst.Ref("ocp4")
	payload := to + "/openshift/release-images@" + m.rel.Digest.String()
	current := to + "/openshift/release-images@sha256:" + strings.Repeat("1", 64)
	policyEngine := testenv.StartGraphTLS(t, testenv.GraphChannel{Name: "stable-4.16", Arch: "amd64",
		Releases: []testenv.GraphRelease{{Version: "4.16.1", Payload: current}, {Version: "4.16.3", Payload: payload}},
		Edges:    [][2]string{{"4.16.1", "4.16.3"}}})
	c.StandInForUpdateServiceOperator(t, "update-service", policyEngine.Base)

	// A cluster at 4.16.1 as OpenShift has it: image config, proxy,
	// ClusterVersion, the route CA published by the ingress operator, the
	// CVO's keys, a pull secret with the mirror's credentials.
	e.write(t, "cluster.yaml", []byte(fmt.Sprintf(`apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
---
apiVersion: config.openshift.io/v1
kind: Proxy
metadata: {name: cluster}
spec: {}
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata: {name: version}
spec: {clusterID: 0b5b5c8e-8a4d-4a4a-9f8e-1b6f2f7e7f00}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: default-ingress-cert, namespace: openshift-config-managed}
data:
  ca-bundle.crt: |
    %s
`, strings.ReplaceAll(strings.TrimSpace(string(policyEngine.CAPEM)), "\n", "\n    "))))
	e.write(t, "cv-status.yaml", []byte(`status:
  desired: {version: 4.16.1, image: `+current+`}
  observedGeneration: 1
  versionHash: e2e
  availableUpdates: []
  conditions:
  - {type: RetrievedUpdates, status: "True", lastTransitionTime: "2026-01-01T00:00:00Z"}
`))
	e.must(t, "kubectl apply -f cluster.yaml")
	t.Cleanup(func() {
		e.sh(t, "", `kubectl delete --ignore-not-found -f cluster.yaml
kubectl delete --ignore-not-found -n openshift-update-service updateservice update-service
kubectl delete --ignore-not-found -n openshift-config configmap mirror-registry-ca user-ca-bundle
kubectl delete --ignore-not-found -n openshift-config secret pull-secret
kubectl delete --ignore-not-found -n openshift-config-managed configmap release-verification sha256-`+m.rel.Digest.Encoded())
	})
	e.must(t, "kubectl patch clusterversion version --subresource=status --type=merge --patch-file cv-status.yaml -o name")
	e.must(t, "kubectl -n openshift-config-managed create configmap release-verification --from-file=verifier-public-key-e2e="+m.keyFile+
		" && kubectl -n openshift-config-managed annotate configmap release-verification release.openshift.io/verification-config-map=")
	e.must(t, "kubectl -n openshift-config create secret generic pull-secret --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson="+m.authFile)

	// 1. Mirror with the graph; 2. apply the update service, the rest
	// through kubectl (the IDMS, the signature ConfigMap).
	e.must(t, fmt.Sprintf("oc-mirror-lite release %s --graph --graph-data graph-data.tar.gz --graph-base-image %s --to docker://%s %s --store %s --keyring %s 2>mirror.log | tee resources.yaml",
		m.rel.Tag, m.src.Ref("ubi9/ubi:latest"), to, m.regFlags(), m.store, m.keyFile))
	applied := e.must(t, "oc-update-service apply -f resources.yaml --channel stable-4.16 | kubectl apply -f -")
	for _, want := range []string{"imagedigestmirrorset.config.openshift.io/", "configmap/sha256-" + m.rel.Digest.Encoded(), "updateservice.updateservice.operator.openshift.io/update-service"} {
		if !strings.Contains(applied.stdout, want) {
			t.Errorf("the pipeline did not apply %s:\n%s", want, applied.stdout)
		}
	}
	if !strings.Contains(applied.stderr, "clusterversion.config.openshift.io/version configured") {
		t.Errorf("apply did not point the cluster at the service:\n%s", applied.stderr)
	}

	// 3. The gate: the CVO has not offered 4.16.3 yet.
	r := e.sh(t, "", "oc-update-service status --expect 4.16.3")
	if r.code != 1 || !strings.Contains(r.stderr, "available-updates: lists nothing, not 4.16.3") || strings.Count(r.stderr, "\n") != 2 {
		t.Errorf("the gate before the CVO offers the update: exit %d, want 1 naming available-updates alone:\n%s", r.code, r.stderr)
	}
	// The CVO reads the graph and offers it: the gate opens.
	e.write(t, "cv-offer.yaml", []byte(`status: {availableUpdates: [{version: 4.16.3, image: "`+payload+`"}]}`))
	e.must(t, "kubectl patch clusterversion version --subresource=status --type=merge --patch-file cv-offer.yaml -o name")
	gate := e.must(t, "oc-update-service status --expect 4.16.3")
	if !strings.Contains(gate.stderr, "the cluster is offered 4.16.3") {
		t.Errorf("gate:\n%s\n%s", gate.stdout, gate.stderr)
	}
	// Applying again changes nothing.
	again := e.must(t, "oc-update-service apply -f resources.yaml --channel stable-4.16 -o name")
	if strings.Contains(again.stderr, "configured") || strings.Contains(again.stderr, "created") {
		t.Errorf("a second apply changed something:\n%s", again.stderr)
	}
}
