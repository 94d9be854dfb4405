# Sourced by hack/demo.sh: the connected run for a local OpenShift Update
# Service (OSUS): mirror with the graph data, point the cluster at the
# service, and gate the update on what it offers.
# shellcheck shell=bash

# stand_in_for_the_operator: what the OSUS operator does once the
# UpdateService exists (it cannot run here): publish the policy engine's
# route as status.policyEngineURI.
stand_in_for_the_operator() {
	(
		for _ in $(seq 1 600); do
			kubectl -n openshift-update-service patch updateservice update-service --subresource=status --type=merge \
				-p "{\"status\":{\"policyEngineURI\":\"$UPDATE_SERVICE_URI\"}}" >/dev/null 2>&1 && exit 0
			sleep 0.5
		done
	) &
}

# write_graph TARGET: the graph the policy engine serves once its graph
# builder has read the mirror: the cluster's version, and TARGET one update
# away.
write_graph() {
	jq -n --arg to "$1" '{nodes: [
		{version: "4.18.1", payload: "quay.io/openshift-release-dev/ocp-release@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", metadata: {}},
		{version: "4.18.2", payload: $to, metadata: {}}], edges: [[0, 1]]}' >"$UPDATE_SERVICE_GRAPH"
}

# offer_update TARGET: what the Cluster Version Operator writes once it has
# read the graph: RetrievedUpdates=True, and 4.18.2 available.
offer_update() {
	kubectl patch clusterversion version --subresource=status --type=json -o name -p "[
		{\"op\": \"add\", \"path\": \"/status/conditions/-\", \"value\": {\"type\": \"RetrievedUpdates\", \"status\": \"True\", \"reason\": \"AsExpected\", \"message\": \"\", \"lastTransitionTime\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}},
		{\"op\": \"replace\", \"path\": \"/status/availableUpdates\", \"value\": [{\"version\": \"4.18.2\", \"image\": \"$1\"}]}]"
}

say "Update service 1/3. Mirror the next release with the graph data, for a local OpenShift Update Service"
replaces "a Dockerfile for the graph-data image (curl the graph-data tarball, podman build, podman push), the release images moved to a repository of their own, the UpdateService and the registry CA ConfigMap written by hand"
note "the release engineer's part again: 4.18.2, the cluster's next update, signed; and what the graph-data image is built from, standing for UBI 9 and Red Hat's graph-data tarball"
run 'mkdir -p osus && mirror-lite-payload --registry $SOURCE_REGISTRY --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --version 4.18.2 --sign osus'
run 'mirror-lite-payload --registry $SOURCE_REGISTRY --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --graph osus'
run 'oc-mirror-lite release 4.18.2 --graph --graph-data osus/graph-data.tar.gz --graph-base-image $SOURCE_REGISTRY/ubi9/ubi:latest --release-repo $SOURCE_REGISTRY/openshift-release-dev/ocp-release --to docker://$REGISTRY/ocp4 --authfile pull-secret.json --cert-dir certs --keyring osus/release-key.asc --store file://$PWD/osus/signatures 2>osus/mirror.log | tee osus/resources.yaml'
note "the release image alone in openshift/release-images (the service's graph builder reads that repository), the components in openshift/release, the graph-data image in openshift/graph-image; on stdout, with the IDMS and the signature, the UpdateService and the registry CA ConfigMap"
run 'grep -A7 "^kind: UpdateService" osus/resources.yaml'

say "Update service 2/3. Point the cluster at the update service"
replaces "the registry CA ConfigMap with the updateservice-registry key named in image.config, oc create the UpdateService, poll status.policyEngineURI, oc patch clusterversion spec.upstream, the route's CA in the proxy's trustedCA"
note "the cluster as OpenShift has it: the ingress operator publishes the routes' CA, and the proxy object exists"
run 'kubectl -n openshift-config-managed create configmap default-ingress-cert --from-file=ca-bundle.crt=$UPDATE_SERVICE_CA -o name'
run 'kubectl apply -f $demo/proxy-cluster.yaml'
note "no update service operator runs in the sandbox: a stand-in publishes the policy engine's URI once the UpdateService exists, and the sandbox serves, over TLS, the graph its graph builder would read from the mirror"
run 'target=$(grep -o "oc adm upgrade .*" osus/mirror.log | grep -o "[^ ]*@sha256:[0-9a-f]*$") && write_graph "$target"'
run 'stand_in_for_the_operator'
note "the UpdateService and the CA are applied and merged, the upstream set; the IDMS and the signature ConfigMap pass through to kubectl"
run 'oc-update-service apply -f osus/resources.yaml --channel stable-4.18 | kubectl apply -f -'
note "a second run changes nothing"
run 'oc-update-service apply -f osus/resources.yaml --channel stable-4.18 -o name'

say "Update service 3/3. The gate before oc adm upgrade: is the cluster offered 4.18.2?"
replaces "curl the graph from the route, read it by eye, oc adm upgrade to see whether the update is offered"
note "the cluster's pull secret holds the mirror's credentials; the CVO's keys are the release key"
run 'kubectl -n openshift-config create secret generic pull-secret --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=$REGISTRY_AUTH_FILE -o name'
run 'kubectl -n openshift-config-managed create configmap release-verification --from-file=verifier-public-key-demo=osus/release-key.asc -o name && kubectl -n openshift-config-managed annotate configmap release-verification release.openshift.io/verification-config-map= -o name'
fails 1 'oc-update-service status --expect 4.18.2' "the Cluster Version Operator has not read the graph yet"
note "no Cluster Version Operator runs in the sandbox: write the status it writes once it has read the graph"
run 'offer_update "$target"'
run 'oc-update-service status --expect 4.18.2'
note "this is where 'oc adm upgrade --to 4.18.2' runs, with no --to-image and no --allow-explicit-upgrade"
