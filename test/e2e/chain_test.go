package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

// mhcs are two MachineHealthChecks as an OpenShift cluster has them.
const mhcs = `apiVersion: machine.openshift.io/v1beta1
kind: MachineHealthCheck
metadata: {name: e2e-workers, namespace: openshift-machine-api}
spec:
  selector: {matchLabels: {machine.openshift.io/cluster-api-machine-role: worker}}
  unhealthyConditions: [{type: Ready, status: "False", timeout: 300s}]
  maxUnhealthy: 40%
---
apiVersion: machine.openshift.io/v1beta1
kind: MachineHealthCheck
metadata: {name: e2e-infra, namespace: openshift-machine-api}
spec:
  selector: {matchLabels: {machine.openshift.io/cluster-api-machine-role: infra}}
  unhealthyConditions: [{type: Ready, status: Unknown, timeout: 300s}]
`

// mcoState is what the Machine Config Operator leaves for a pool whose
// rendered config carries registriesConf: the generated MachineConfig, the
// rendered one, the pool and one node on it.
func mcoState(pool, rendered string, registriesConf []byte) string {
	url := "data:text/plain;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(registriesConf)
	mc := func(name string) string {
		return fmt.Sprintf(`apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: %s
  labels: {machineconfiguration.openshift.io/role: %s}
spec:
  config:
    ignition: {version: 3.5.0}
    storage:
      files:
      - path: /etc/containers/registries.conf
        mode: 420
        overwrite: true
        contents: {source: "%s"}
`, name, pool, url)
	}
	return mc("99-"+pool+"-generated-registries") + "---\n" + mc(rendered) + fmt.Sprintf(`---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata: {name: %[1]s}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: %[1]s}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/%[1]s: ""}}
  configuration:
    name: %[2]s
    source:
    - {apiVersion: machineconfiguration.openshift.io/v1, kind: MachineConfig, name: 99-%[1]s-generated-registries}
---
apiVersion: v1
kind: Node
metadata:
  name: %[1]s-0
  labels: {node-role.kubernetes.io/%[1]s: ""}
  annotations:
    machineconfiguration.openshift.io/currentConfig: %[2]s
    machineconfiguration.openshift.io/desiredConfig: %[2]s
    machineconfiguration.openshift.io/state: Done
`, pool, rendered)
}

// poolStatus is the kubectl patch that marks pool as rolled out to rendered.
func poolStatus(pool, rendered string) string {
	return fmt.Sprintf(`kubectl patch machineconfigpool %s --subresource=status --type=merge -o name -p '{"status": {
  "machineCount": 1, "readyMachineCount": 1, "updatedMachineCount": 1, "unavailableMachineCount": 0, "degradedMachineCount": 0,
  "configuration": {"name": "%s"},
  "conditions": [{"type": "Updated", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "", "message": ""},
                 {"type": "Degraded", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "", "message": ""}]}}'`, pool, rendered)
}

const imageCluster = `apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
`

var upgradeLine = regexp.MustCompile(`oc adm upgrade --allow-explicit-upgrade --to-image (\S+)@(sha256:[0-9a-f]{64})`)

// TestConnectedChain runs the connected runbook of the documented procedure
// with the plugins, piped as the issue and the README show: mirror, verify the
// signature and apply, check registries.conf, pause the health checks, check
// the update target against the mirror with skopeo, resume, gate.
func TestConnectedChain(t *testing.T) {
	e, _ := clusterEnv(t)
	m := newMirrorEnv(t, e, testenv.ReleaseSpec{Version: "4.16.3", Components: 8})
	to := m.dst.Ref("ocp4/openshift4")
	e.write(t, "mhcs.yaml", []byte(mhcs))
	e.write(t, "image-cluster.yaml", []byte(imageCluster))
	e.must(t, "kubectl apply -f mhcs.yaml -f image-cluster.yaml")

	// 1. Mirror the release; the objects go to resources.yaml, the
	// progress and the upgrade command to stderr.
	mirror := e.must(t, fmt.Sprintf("oc-mirror-lite release %s --to docker://%s %s --signature-store %s --keyring %s | tee resources.yaml",
		m.rel.Tag, to, m.regFlags(), m.store, m.keyFile))
	if !strings.Contains(mirror.stdout, "kind: ImageDigestMirrorSet") || !strings.Contains(mirror.stdout, "kind: ConfigMap") {
		t.Fatalf("resources.yaml lacks the IDMS or the signature ConfigMap:\n%s", mirror.stdout)
	}
	if strings.Contains(mirror.stdout, "oc adm upgrade") {
		t.Error("the upgrade command is in the YAML on stdout")
	}

	// 2. Apply only what verified.
	applied := e.must(t, "oc-release-sig verify -f resources.yaml --keyring "+m.keyFile+" | kubectl apply -f -")
	for _, want := range []string{"imagedigestmirrorset.config.openshift.io/release-4.16.3-x86-64", "configmap/sha256-" + m.rel.Digest.Encoded()} {
		if !strings.Contains(applied.stdout, want) {
			t.Errorf("kubectl apply did not apply %s:\n%s", want, applied.stdout)
		}
	}
	e.must(t, "oc-release-sig verify --from-cluster --digest "+m.rel.Digest.String()+" --keyring "+m.keyFile)
	// A key that did not sign it: nothing reaches kubectl.
	other := testenv.NewSigningKey(t, nil)
	e.write(t, "other.asc", other.ArmoredPublicKey(t))
	if r := e.sh(t, "", "oc-release-sig verify -f resources.yaml --keyring other.asc > verified.yaml"); r.code != 1 {
		t.Errorf("verify with the wrong key: exit %d, want 1: %s", r.code, r.stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(e.dir, "verified.yaml")); len(data) != 0 {
		t.Errorf("a stream that did not verify was passed on:\n%s", data)
	}

	// 3. The registries.conf the MCO renders from these objects, written as
	// the MCO writes it into the worker pool; then verified, pool and node.
	e.must(t, "oc-registries-verify render -f resources.yaml -f image-cluster.yaml > registries.conf")
	conf, err := os.ReadFile(filepath.Join(e.dir, "registries.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), to) {
		t.Fatalf("the rendered registries.conf does not name the mirror %s:\n%s", to, conf)
	}
	e.write(t, "mco.yaml", []byte(mcoState("worker", "rendered-worker-e2e1", conf)))
	e.must(t, "kubectl apply -f mco.yaml\n"+poolStatus("worker", "rendered-worker-e2e1"))
	e.must(t, "oc-registries-verify -f resources.yaml -f image-cluster.yaml --node-file worker-0=registries.conf")
	e.must(t, "oc-registries-verify --node-file worker-0=registries.conf")
	// A node still on its old file is drift.
	e.write(t, "old.conf", []byte("unqualified-search-registries = []\n"))
	if r := e.sh(t, "", "oc-registries-verify --node-file worker-0=old.conf"); r.code != 1 {
		t.Errorf("a node without the mirror: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}

	// 4. Pause the health checks for the update.
	e.must(t, "oc-mhc-pause --all -o name")
	e.must(t, "oc-mhc-pause status --expect paused")

	// 5. The update target: in the mirror, by digest, pullable by skopeo.
	match := upgradeLine.FindStringSubmatch(mirror.stderr)
	if match == nil {
		t.Fatalf("no oc adm upgrade command on stderr:\n%s", mirror.stderr)
	}
	if match[1] != to || match[2] != m.rel.Digest.String() {
		t.Errorf("upgrade target %s@%s, want %s@%s", match[1], match[2], to, m.rel.Digest)
	}
	skopeoPulls(t, m.dst, match[1]+"@"+match[2], digest.Digest(match[2]))
	if missing := danglingManifests(t, m.dst, "ocp4/openshift4"); len(missing) > 0 {
		t.Errorf("the mirror serves manifests with missing content:\n%s", strings.Join(missing, "\n"))
	}

	// 6. After the update: resume, and gate on it.
	if r := e.sh(t, "", "oc-mhc-pause status --expect resumed"); r.code != 1 {
		t.Errorf("status --expect resumed while paused: exit %d, want 1", r.code)
	}
	e.must(t, "oc-mhc-pause --resume --all -o name")
	e.must(t, "oc-mhc-pause status --expect resumed")
}

// skopeoPulls copies pullspec out of r with skopeo, a client that shares no
// code with ours, and checks that the manifest it got has digest want.
func skopeoPulls(t *testing.T, r *testenv.Registry, pullspec string, want digest.Digest) {
	t.Helper()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatalf("skopeo is needed to read the mirror back (Debian package skopeo; .ci/run installs it): %v", err)
	}
	out := filepath.Join(t.TempDir(), "image")
	cmd := exec.Command(skopeo, "copy", "--all", "--src-authfile", r.AuthFile, "--src-cert-dir", r.CertDir, "docker://"+pullspec, "dir:"+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", pullspec, err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(raw); got != want {
		t.Errorf("skopeo read %s from %s, want %s", got, pullspec, want)
	}
}
