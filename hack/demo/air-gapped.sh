# Sourced by hack/demo.sh: 2. the air-gapped runbook. The connected side
# reaches the release's origin and writes to a disk; the disconnected side
# reaches only its own registry ($DISCONNECTED_REGISTRY, its own CA and
# password), and the disk is all that crosses.
# shellcheck shell=bash

say "Air-gapped 1/3. Connected side: mirror the release to disk, signatures verified and carried along"
replaces "oc adm release mirror --to-dir=/media/usb (and the signature fetched separately by curl)"
note "chunks of at most 4 MiB here (4 GiB by default), a checksum manifest and an index; an interrupted run resumes"
run 'oc-mirror-lite release 4.16.3 --release-repo $SOURCE_REGISTRY/openshift-release-dev/ocp-release --to file://$PWD/usb/ocp4 --archive-size 4Mi --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --keyring release-key.asc --store file://$PWD/signatures'
run 'ls usb/ocp4'

note "the air gap: the disconnected side cannot reach the release's origin; the sandbox stops the source registry"
run 'stop_source_registry'
fails 1 'skopeo inspect --authfile $SOURCE_AUTH_FILE --cert-dir $SOURCE_CERT_DIR --format "{{.Digest}}" docker://$SOURCE_REGISTRY/openshift-release-dev/ocp-release:4.16.3-x86_64 2>/dev/null' "the source registry is out of reach"

say "Air-gapped 2/3. Disconnected side: verify the chunks and push straight from them into the disconnected registry"
replaces "oc image mirror --from-dir=/media/usb into \$LOCAL_REGISTRY/\$LOCAL_REPOSITORY, an ICSP and the signature ConfigMap by hand"
note "only the disk and the disconnected registry's credentials and CA are used here"
note "first, a disk damaged in transit: its corrupt chunk is refused, no image that needs it is pushed, nothing is printed for kubectl"
run 'cp -r usb/ocp4 usb/damaged && printf XXXX | dd of=usb/damaged/chunk-00002.tar bs=1 seek=1000000 conv=notrunc status=none'
fails 3 'oc-mirror-lite --from file://$PWD/usb/damaged --to docker://$DISCONNECTED_REGISTRY/ocp4/openshift4 --authfile $DISCONNECTED_AUTH_FILE --cert-dir $DISCONNECTED_CERT_DIR 2>damaged.log | tee damaged.yaml' "a chunk is corrupt"
run 'grep -m1 "^refused" damaged.log; tail -n1 damaged.log; test ! -s damaged.yaml'
note "then the good disk: only what is missing is pushed"
run 'oc-mirror-lite --from file://$PWD/usb/ocp4 --to docker://$DISCONNECTED_REGISTRY/ocp4/openshift4 --authfile $DISCONNECTED_AUTH_FILE --cert-dir $DISCONNECTED_CERT_DIR 2>from-disk.log | tee resources-disconnected.yaml'
run 'cat from-disk.log'

say "Air-gapped 3/3. The resources it printed, verified, and the update target in the disconnected registry"
replaces "the same apply and oc adm upgrade as on a connected cluster, by hand"
note "one sandbox cluster stands for both: a server-side dry run stands for applying on the disconnected cluster"
run 'oc-release-sig verify -f resources-disconnected.yaml --keyring release-key.asc | kubectl apply --dry-run=server -f -'
run 'target=$(grep -o "oc adm upgrade .*" from-disk.log | grep -o "[^ ]*@sha256:[0-9a-f]*$")'
run 'test "$(skopeo inspect --authfile $DISCONNECTED_AUTH_FILE --cert-dir $DISCONNECTED_CERT_DIR --format "{{.Digest}}" docker://$target)" = "${target#*@}" && echo "$target is in the disconnected registry"'
