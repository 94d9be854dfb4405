# Sourced by hack/demo.sh: the mirroring step.
# shellcheck shell=bash

# runto FILE CMD...: run prints the command; this also sends its stdout to FILE.
runto() {
	local out=$1
	shift
	printf '%s$ %s > %s%s\n' "$bold" "$*" "$out" "$plain"
	"$@" >"$out"
}

say "Mirror, step 1. A release payload to mirror: 39 components on shared base layers, standing for quay.io"
echo "(built as real images by internal/testenv and pushed to the sandbox registry under openshift-release-dev/)"
go build -o "$work/mirror-lite-payload" "$root/hack/demo/mirror-lite-payload"
release_tag=$("$work/mirror-lite-payload" --registry "$REGISTRY" --version 4.16.3)
echo "release: $release_tag"
release_repo="$REGISTRY/openshift-release-dev/ocp-release"

say "Mirror, step 2. What would be copied, in oc-mirror's mapping.txt form (reads the source only)"
run oc-mirror-lite release 4.16.3 --release-repo "$release_repo" --to "docker://$REGISTRY/mirror/ocp" \
	--cert-dir "$REGISTRY_CERT_DIR" --dry-run 2>/dev/null | head -4

say "Mirror, step 3. Mirror it: each shared layer moves once (here, within one registry, it is mounted), progress and the upgrade command on stderr"
echo "(no signature store is reachable here: the warning names the oc-release-sig command to run later)"
runto "$work/mirror.yaml" oc-mirror-lite release 4.16.3 --release-repo "$release_repo" --to "docker://$REGISTRY/mirror/ocp" \
	--cert-dir "$REGISTRY_CERT_DIR" --keyring "$root/pkg/signature/testdata/keyrings/redhat.txt" \
	--signature-store "file://$work/no-signatures" --resources-dir "$work/mirror-resources"
run cat "$work/mirror.yaml"
run kubectl apply --server-side -f "$work/mirror.yaml"

say "Mirror, step 4. Run it again: every manifest is already there, nothing is uploaded"
runto /dev/null oc-mirror-lite release 4.16.3 --release-repo "$release_repo" --to "docker://$REGISTRY/mirror/ocp" \
	--cert-dir "$REGISTRY_CERT_DIR"

say "Mirror, step 5. Across an air gap: mirror to disk (chunks of at most 4 MiB here, 4 GiB by default), with a checksum manifest and an index"
run oc-mirror-lite release 4.16.3 --release-repo "$release_repo" --to "file://$work/usb/ocp" --archive-size 4Mi \
	--cert-dir "$REGISTRY_CERT_DIR"
run ls "$work/usb/ocp"

say "Mirror, step 6. On the disconnected side: verify the chunks and push straight from them (nothing is unpacked)"
runto "$work/mirror-from-disk.yaml" oc-mirror-lite --from "file://$work/usb/ocp" --to "docker://$REGISTRY/disconnected/ocp" \
	--cert-dir "$REGISTRY_CERT_DIR"
run grep -B2 "source: $REGISTRY/openshift-release-dev/ocp-v4.0-art-dev" "$work/mirror-from-disk.yaml"
