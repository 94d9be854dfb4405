# Sourced by hack/demo.sh: the registries.conf verification step, after the ICSP migration
# (the sandbox now holds ImageDigestMirrorSets). No Machine Config Operator runs in the
# sandbox, so this step first leaves a pool, its rendered MachineConfig and a node as the MCO
# would, from the command's own `render` output.
# shellcheck shell=bash

# data_url FILE: the file as an Ignition data URL (base64), as the MCO embeds it.
data_url() { printf 'data:text/plain;charset=utf-8;base64,%s' "$(base64 -w0 <"$1")"; }

# machineconfig NAME FILE: a MachineConfig for the worker pool holding FILE as registries.conf.
machineconfig() {
	cat <<EOF
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: $1
  labels: {machineconfiguration.openshift.io/role: worker}
spec:
  config:
    ignition: {version: 3.5.0}
    storage:
      files:
      - path: /etc/containers/registries.conf
        mode: 420
        overwrite: true
        contents: {source: "$(data_url "$2")"}
EOF
}

say "Verification, step 1. What must every node's /etc/containers/registries.conf say? (render)"
echo "(every OpenShift cluster has image.config.openshift.io/cluster; the sandbox gets an empty one)"
cat >"$work/image-cluster.yaml" <<'EOF'
apiVersion: config.openshift.io/v1
kind: Image
metadata: {name: cluster}
spec: {}
EOF
run kubectl apply -f "$work/image-cluster.yaml"
printf '%s$ %s%s\n' "$bold" "oc-registries-verify render > registries.conf" "$plain"
oc-registries-verify render >"$work/registries.conf"
cat "$work/registries.conf"

say "Verification, step 2. The worker pool, its rendered MachineConfig and a node, as the MCO would leave them"
{
	machineconfig 99-worker-generated-registries "$work/registries.conf"
	echo ---
	machineconfig rendered-worker-demo1 "$work/registries.conf"
	cat <<'EOF'
---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata: {name: worker}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: worker}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/worker: ""}}
  configuration:
    name: rendered-worker-demo1
    source:
    - {apiVersion: machineconfiguration.openshift.io/v1, kind: MachineConfig, name: 99-worker-generated-registries}
---
apiVersion: v1
kind: Node
metadata:
  name: worker-0
  labels: {node-role.kubernetes.io/worker: ""}
  annotations:
    machineconfiguration.openshift.io/currentConfig: rendered-worker-demo1
    machineconfiguration.openshift.io/desiredConfig: rendered-worker-demo1
    machineconfiguration.openshift.io/state: Done
EOF
} >"$work/mco-state.yaml"
run kubectl apply -f "$work/mco-state.yaml" -o name
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kubectl patch machineconfigpool worker --subresource=status --type=merge -o name -p "{\"status\": {
  \"machineCount\": 1, \"readyMachineCount\": 1, \"updatedMachineCount\": 1, \"unavailableMachineCount\": 0, \"degradedMachineCount\": 0,
  \"configuration\": {\"name\": \"rendered-worker-demo1\"},
  \"conditions\": [{\"type\": \"Updated\", \"status\": \"True\", \"lastTransitionTime\": \"$now\", \"reason\": \"\", \"message\": \"All nodes are updated\"},
                   {\"type\": \"Degraded\", \"status\": \"False\", \"lastTransitionTime\": \"$now\", \"reason\": \"\", \"message\": \"\"}]}}"

say "Verification, step 3. Does every pool and node have what the mirror objects describe?"
echo "(oc finds the plugin as 'oc registries verify'; here it runs by its file name)"
run oc-registries-verify

say "Verification, step 4. Where would CRI-O pull the release from, and a tag of it?"
run oc-registries-verify resolve quay.io/openshift-release-dev/ocp-release@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
run oc-registries-verify resolve quay.io/openshift-release-dev/ocp-release:4.16.3

say "Verification, step 5. A new ImageDigestMirrorSet the MCO has not rolled out yet is drift (exit 1)"
cat >"$work/idms-new.yaml" <<'EOF'
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata: {name: rhel9}
spec:
  imageDigestMirrors:
  - source: registry.redhat.io/rhel9
    mirrors: [bastion.ocp4.example.com:5000/rhel9]
EOF
run kubectl apply -f "$work/idms-new.yaml"
run oc-registries-verify || echo "exit $? (expected: the pool's rendered config lacks the new mirror)"

say "Verification, step 6. A node's real file, read with oc debug, checked against the cluster's objects"
echo "(here the file rendered before the new IDMS stands in for 'oc debug node/worker-0 -- chroot /host cat ...')"
run oc-registries-verify --node-file worker-0="$work/registries.conf" || echo "exit $? (expected)"
