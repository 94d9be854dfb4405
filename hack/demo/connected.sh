# Sourced by hack/demo.sh: 1. the connected runbook. The mirror host reaches
# both the release's origin ($SOURCE_REGISTRY, for quay.io) and the mirror
# registry ($REGISTRY) the cluster pulls from.
# shellcheck shell=bash

# write_mco_state FILE RENDERED: what the Machine Config Operator leaves for
# the worker pool once FILE is its registries.conf: the generated
# MachineConfig, the rendered one named RENDERED (the file as an Ignition
# data URL), the pool and a node on it (on stdout); and the pool's status
# patch (pool-status.json).
write_mco_state() {
	local url mc now
	url="data:text/plain;charset=utf-8;base64,$(base64 -w0 <"$1")"
	for mc in 99-worker-generated-registries "$2"; do
		cat <<EOF
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: $mc
  labels: {machineconfiguration.openshift.io/role: worker}
spec:
  config:
    ignition: {version: 3.5.0}
    storage:
      files:
      - path: /etc/containers/registries.conf
        mode: 420
        overwrite: true
        contents: {source: "$url"}
---
EOF
	done
	cat <<EOF
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata: {name: worker}
spec:
  machineConfigSelector: {matchLabels: {machineconfiguration.openshift.io/role: worker}}
  nodeSelector: {matchLabels: {node-role.kubernetes.io/worker: ""}}
  configuration:
    name: $2
    source:
    - {apiVersion: machineconfiguration.openshift.io/v1, kind: MachineConfig, name: 99-worker-generated-registries}
---
apiVersion: v1
kind: Node
metadata:
  name: worker-0
  labels: {node-role.kubernetes.io/worker: ""}
  annotations:
    machineconfiguration.openshift.io/currentConfig: $2
    machineconfiguration.openshift.io/desiredConfig: $2
    machineconfiguration.openshift.io/state: Done
EOF
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	cat >pool-status.json <<EOF
{"status": {
  "machineCount": 1, "readyMachineCount": 1, "updatedMachineCount": 1, "unavailableMachineCount": 0, "degradedMachineCount": 0,
  "configuration": {"name": "$2"},
  "conditions": [{"type": "Updated", "status": "True", "lastTransitionTime": "$now", "reason": "", "message": "All nodes are updated"},
                 {"type": "Degraded", "status": "False", "lastTransitionTime": "$now", "reason": "", "message": ""}]}}
EOF
}

say "Before the runbook: a release to update to, and a cluster as it is today"
note "the release engineer's part: 39 components on shared base layers, built as real images, pushed to the source registry and signed with a new release key; release-key.asc stands for Red Hat's key, signatures/ for mirror.openshift.com's store"
note "and the operator vendor's part: a small operator index under Red Hat's index name, its bundles and operand images"
run 'mirror-lite-payload --registry $SOURCE_REGISTRY --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --sign . --operators'
note "the cluster: its image config, ClusterVersion (idle, as the CVO leaves it) and MachineHealthChecks, one of which someone paused by hand"
run 'kubectl apply -f $demo/image-cluster.yaml -f $demo/mhc-clusterversion.yaml -f $demo/mhcs.yaml'
run 'kubectl patch clusterversion version --subresource=status --type=merge --patch-file $demo/mhc-clusterversion-status.yaml -o name'
run 'kubectl -n openshift-machine-api annotate machinehealthcheck.machine.openshift.io infra cluster.x-k8s.io/paused=""'

say "Connected 1/8. Credentials and trust for the mirror host"
replaces "merge the pull secret with the mirror registry's credentials (jq), trust the registry's CA"
run 'jq -s "{auths: (.[0].auths + .[1].auths)}" $SOURCE_AUTH_FILE $REGISTRY_AUTH_FILE > pull-secret.json'
run 'mkdir -p certs && cp $SOURCE_CERT_DIR/ca.crt certs/source.crt && cp $REGISTRY_CERT_DIR/ca.crt certs/mirror.crt'

say "Connected 2/8. Mirror the release; the IDMS and the verified signature ConfigMap to resources.yaml"
replaces "oc adm release info for the digest, oc adm release mirror --to=\$LOCAL_REGISTRY/\$LOCAL_REPOSITORY, an ICSP or IDMS written by hand"
run 'oc-mirror-lite release 4.16.3 --release-repo $SOURCE_REGISTRY/openshift-release-dev/ocp-release --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs --keyring release-key.asc --store file://$PWD/signatures 2>mirror.log | tee resources.yaml'
note "progress, the summary and the update command went to stderr:"
run 'cat mirror.log'

say "Connected 3/8. Mirror two operators: their bundles and images, and a catalog that lists only them"
replaces "oc-mirror with mirror.operators, then a catalog pod that crash-loops on the original's cache, or offers bundles whose images were never mirrored"
run 'oc-mirror-lite catalog $SOURCE_REGISTRY/redhat/redhat-operator-index:v4.17 --package cincinnati-operator --package local-storage-operator:stable --to docker://$REGISTRY/olm --authfile pull-secret.json --cert-dir certs 2>catalog.log | tee catalog.yaml'
run 'cat catalog.log'
run 'kubectl apply -f catalog.yaml'
note "what the rebuilt catalog offers, read back from the mirror by its digest: the two operators, nothing else"
run 'catalog=$(grep -o "image: .*@sha256:[0-9a-f]*" catalog.yaml | head -n1 | cut -d" " -f2)'
run 'oc-mirror-lite catalog $catalog --full --to docker://$REGISTRY/check --authfile pull-secret.json --cert-dir certs --dry-run 2>&1 >/dev/null | grep "^# keep"'

say "Connected 4/8. Apply what verifies: the signature must verify against the release key, or nothing is applied"
replaces "curl .../signature-1 | base64 -w0, a ConfigMap written by hand, oc apply"
run 'oc-release-sig verify -f resources.yaml --keyring release-key.asc | kubectl apply -f -'
run 'cp $root/pkg/signature/testdata/keyrings/redhat.txt redhat.asc'
note "Red Hat's real release key did not sign this sandbox release: the gate exits 1 and prints nothing, so nothing reaches kubectl"
fails 1 'oc-release-sig verify -f resources.yaml --keyring redhat.asc > unverified.yaml' "no signature verifies"
run 'test ! -s unverified.yaml && echo "nothing for kubectl apply -f - to apply"'

say "Connected 5/8. Is the mirror configuration on every pool and node?"
replaces "oc debug node/<node>, chroot /host, cat /etc/containers/registries.conf, compare by eye"
note "what every node must have, from the mirror objects and the cluster's image config"
run 'kubectl get image.config.openshift.io cluster -o yaml > image-cluster.yaml'
run 'oc-registries-verify render -f resources.yaml -f image-cluster.yaml > registries.conf'
run 'cat registries.conf'
note "no Machine Config Operator runs in the sandbox: leave its generated and rendered MachineConfigs, the worker pool and a node as it would, from that file"
run 'write_mco_state registries.conf rendered-worker-1 > mco-state.yaml'
run 'kubectl apply -f mco-state.yaml -o name'
run 'kubectl patch machineconfigpool worker --subresource=status --type=merge --patch-file pool-status.json -o name'
note "worker-0's file, as 'oc debug node/worker-0 -- chroot /host cat /etc/containers/registries.conf' reads it, checked against the objects, the pool and the node"
run 'oc-registries-verify -f resources.yaml -f image-cluster.yaml --node-file worker-0=registries.conf'
note "a node still on the file it had before the mirror is drift"
run 'oc-registries-verify render -f image-cluster.yaml > old-registries.conf'
fails 1 'oc-registries-verify -f resources.yaml -f image-cluster.yaml --node-file worker-0=old-registries.conf' "worker-0 lacks the mirror"
note "a pool whose rendered config lacks the mirror is drift too, even with worker-0's file right: the pool is read with the node file"
run 'write_mco_state old-registries.conf rendered-worker-0 | kubectl apply -f - -o name && kubectl patch machineconfigpool worker --subresource=status --type=merge --patch-file pool-status.json -o name'
fails 1 'oc-registries-verify -f resources.yaml -f image-cluster.yaml --node-file worker-0=registries.conf' "the worker pool's rendered config lacks the mirror"
run 'write_mco_state registries.conf rendered-worker-1 | kubectl apply -f - -o name && kubectl patch machineconfigpool worker --subresource=status --type=merge --patch-file pool-status.json -o name'

say "Connected 6/8. Pause the MachineHealthChecks for the update"
replaces "oc annotate mhc <name> cluster.x-k8s.io/paused=\"\", once per MHC"
run 'oc-mhc-pause --all -o name'
run 'oc-mhc-pause status --expect paused'

say "Connected 7/8. The update target: the mirror, by digest, with its signature on the cluster"
replaces "oc adm release info for the digest, oc adm upgrade --allow-explicit-upgrade --to-image \$LOCAL_REGISTRY/\$LOCAL_REPOSITORY@sha256:..."
run 'grep -o "oc adm upgrade .*" mirror.log'
run 'target=$(grep -o "oc adm upgrade .*" mirror.log | grep -o "[^ ]*@sha256:[0-9a-f]*$")'
note "the cluster pulls it from the mirror: skopeo, with only the mirror registry's credentials, must find exactly that digest"
run 'test "$(skopeo inspect --authfile $REGISTRY_AUTH_FILE --cert-dir $REGISTRY_CERT_DIR --format "{{.Digest}}" docker://$target)" = "${target#*@}" && echo "$target is in the mirror"'
run 'oc-release-sig verify --from-cluster --digest ${target#*@} --keyring release-key.asc'
note "no Cluster Version Operator runs in the sandbox: this is where the printed 'oc adm upgrade' runs and the update happens"

say "Connected 8/8. After the update: resume the MachineHealthChecks, and gate on it"
replaces "oc annotate mhc <name> cluster.x-k8s.io/paused-, once per MHC"
run 'oc-mhc-pause --resume --all -o name'
note "the gate catches the MHC someone paused by hand, which --resume --all rightly left alone"
fails 1 'oc-mhc-pause status --expect resumed' "infra is still paused"
run 'oc-mhc-resume infra --force -o name'
run 'oc-mhc-pause status --expect resumed'
