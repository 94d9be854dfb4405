# Sourced by hack/demo.sh: the release signature step.
# shellcheck shell=bash

say "Signatures, step 1. Package a release signature for the Cluster Version Operator, verified first"
echo "(a real Red Hat signature and Red Hat's release key, from a signature store on disk, as on a USB stick)"
sigstore="file://$root/pkg/signature/testdata/store"
redhat_key="$root/pkg/signature/testdata/keyrings/redhat.txt"
redhat_digest=sha256:e3f12513a4b22a2d7c0e7c9207f52128113758d9d68c7d06b11a0ac7672966f7
run oc-release-sig --digest "$redhat_digest" --store "$sigstore" --keyring "$redhat_key" --apply -o name

say "Signatures, step 2. The pre-update gate: does the cluster hold a signature the CVO will accept?"
run oc-release-sig verify --from-cluster --digest "$redhat_digest" --keyring "$redhat_key"

say "Signatures, step 3. A signature whose key has expired is refused before it reaches the cluster (exit 1)"
run oc-release-sig --digest sha256:edd9824f0404f1a139688017e7001370e2f3fbc088b94da84506653b473fe140 \
	--store "$sigstore" --keyring "$root/pkg/signature/testdata/keyrings/simple.txt" || echo "exit $? (expected)"
