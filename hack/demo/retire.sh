# Sourced by hack/demo.sh after the connected runbook, while the source
# registry is still reachable: two z-streams mirrored, the cluster updated to
# the newer one, the older retired from the mirror with the cluster checked,
# and the one the cluster runs refused.
# shellcheck shell=bash

# cluster_updated_to IMAGE: the ClusterVersion status patch the CVO leaves
# once the cluster has updated to 4.99.2 at IMAGE (4.99.1 never ran here).
cluster_updated_to() {
	cat <<JSON
{"status": {
  "desired": {"version": "4.99.2", "image": "$1"},
  "history": [
    {"state": "Completed", "version": "4.99.2", "image": "$1", "verified": false,
     "startedTime": "2026-12-01T08:00:00Z", "completionTime": "2026-12-01T09:00:00Z"},
    {"state": "Completed", "version": "4.18.1", "image": "quay.io/openshift-release-dev/ocp-release@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "verified": false,
     "startedTime": "2026-11-20T07:00:00Z", "completionTime": "2026-11-20T08:00:00Z"}]}}
JSON
}

say "Retire 1/4. Two z-streams in the mirror: 4.99.1, and 4.99.2 which shares all its images but cli and console"
run 'mirror-lite-payload --registry $SOURCE_REGISTRY --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --version 4.99.1'
run 'mirror-lite-payload --registry $SOURCE_REGISTRY --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --version 4.99.2 --components-from 4.99.1 --changed cli,console'
run 'oc-mirror-lite release 4.99.1 --release-repo $SOURCE_REGISTRY/openshift-release-dev/ocp-release --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs 2>mirror-4.99.1.log >/dev/null'
run 'oc-mirror-lite release 4.99.2 --release-repo $SOURCE_REGISTRY/openshift-release-dev/ocp-release --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs 2>mirror-4.99.2.log >/dev/null'

say "Retire 2/4. The cluster updates to 4.99.2 from the mirror"
run 'target=$(grep -o "oc adm upgrade .*" mirror-4.99.2.log | grep -o "[^ ]*@sha256:[0-9a-f]*$")'
note "no Cluster Version Operator runs in the sandbox: write the ClusterVersion as it leaves it after 'oc adm upgrade --to-image $target'"
run 'cluster_updated_to $target > clusterversion-4.99.2.json'
run 'kubectl patch clusterversion version --subresource=status --type=merge --patch-file clusterversion-4.99.2.json -o name'

say "Retire 3/4. Delete 4.99.1 from the mirror, the cluster checked first"
replaces "nothing: mirror registries only grow (oc-mirror v2's delete needs its workspace and checks no cluster)"
note "first the plan: each manifest by digest, its tags, why it goes and what garbage collection can free; nothing is deleted"
run 'oc-mirror-lite delete release 4.99.1 --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs --kubeconfig $KUBECONFIG 2>&1 >delete-4.99.1.yaml | grep -v "^kept: "'
run 'head -n 11 delete-4.99.1.yaml'
run 'oc-mirror-lite delete release 4.99.1 --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs --kubeconfig $KUBECONFIG --confirm 2>&1 >/dev/null | grep -v "^kept: "'
note "4.99.1 is gone; the components 4.99.2 shares stayed, and 4.99.2 pulls whole"
run '[[ -z "$(skopeo inspect --authfile $REGISTRY_AUTH_FILE --cert-dir $REGISTRY_CERT_DIR docker://$REGISTRY/ocp4/openshift4:4.99.1-x86_64 2>/dev/null)" ]] || { echo "4.99.1 is still in the mirror" >&2; false; }; echo "4.99.1 is no longer in the mirror"'
run 'skopeo copy -q --src-authfile $REGISTRY_AUTH_FILE --src-cert-dir $REGISTRY_CERT_DIR docker://$REGISTRY/ocp4/openshift4:4.99.2-x86_64-etcd dir:etcd-4.99.2 && echo "4.99.2-x86_64-etcd, shared with 4.99.1, pulls"'

say "Retire 4/4. The release the cluster runs cannot be deleted"
fails 1 'oc-mirror-lite delete release 4.99.2 --to docker://$REGISTRY/ocp4/openshift4 --authfile pull-secret.json --cert-dir certs --kubeconfig $KUBECONFIG --confirm 2>&1 >/dev/null | grep -v "^kept: "' "the cluster runs 4.99.2"
run 'skopeo inspect --authfile $REGISTRY_AUTH_FILE --cert-dir $REGISTRY_CERT_DIR --format "{{.Digest}}" docker://$target'
