#!/usr/bin/env bash
# `make demo`: the runbook of a disconnected OpenShift update, run end to end
# with the plugins against a local sandbox (a real kube-apiserver and etcd
# with the OpenShift CRDs, and three real registries over TLS with auth),
# in the order an administrator runs it, each step consuming what the
# previous one produced:
#
#   hack/demo/connected.sh   1. connected: mirror the release and two
#                               operators, verify and apply, check
#                               registries.conf, pause MHCs, the update
#                               target, resume MHCs
#   hack/demo/update-service.sh
#                            2. a local update service: the graph image, the
#                               UpdateService, the cluster pointed at it, the
#                               gate
#   hack/demo/retire.sh      3. retire: two z-streams mirrored, the cluster on
#                               the newer, the older deleted from the mirror,
#                               the newer refused (while the source is up)
#   hack/demo/air-gapped.sh  4. air-gapped: mirror to disk, disk to the
#                               disconnected registry, its resources
#   hack/demo/migration.sh   5. migration: an older cluster's ICSPs to IDMSs
#
# Every command is printed before it runs, under a line naming the runbook
# step it replaces. Any failing step (or a failure demonstration that does
# not fail as it should) stops the demo with a non-zero exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
demo=$root/hack/demo
testbin=${OC_PLUGINS_TESTBIN:-$("$root/hack/testbin.sh")}
export PATH="$root/bin:$testbin:$PATH"
for tool in kubectl skopeo jq oc-mirror-lite oc-release-sig oc-registries-verify oc-mhc-pause oc-icsp-migrate oc-update-service; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is not on PATH (make build; Debian packages skopeo, jq)" >&2; exit 1; }
done

# Bold only on a terminal: a log written to a file holds no escape codes.
bold= plain=
if [[ -t 1 ]]; then
	bold=$(tput bold 2>/dev/null || true)
	plain=$(tput sgr0 2>/dev/null || true)
fi
work=$(mktemp -d)
sandbox_pid=
step='(setting up)'
last='(setting up)'
cleanup() {
	local code=$?
	if ((code != 0)); then
		printf '\n%sdemo FAILED (exit %s) in step "%s" at: %s%s\n' "$bold" "$code" "$step" "$last" "$plain" >&2
	fi
	if [[ -n "$sandbox_pid" ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# say TITLE: a step of the runbook.
say() {
	step=$*
	printf '\n%s== %s%s\n' "$bold" "$*" "$plain"
}
# replaces TEXT: what the administrator does by hand today, per the documented procedure.
replaces() { printf '   replaces: %s\n' "$*"; }
# note TEXT: a remark about the sandbox.
note() { printf '   (%s)\n' "$*"; }
# run 'COMMAND': print the command line as written, then run it in this shell
# (pipes, redirections and the sandbox's $VARIABLES as a runbook has them).
run() {
	last=$1
	printf '%s$ %s%s\n' "$bold" "$1" "$plain"
	eval "$1"
}
# stop_source_registry: the air gap; the sandbox stops the registry that
# stands for quay.io, and the demo waits until it has.
stop_source_registry() {
	kill -USR1 "$sandbox_pid"
	for _ in $(seq 1 120); do
		[[ -f "$work/sandbox.d/source.stopped" ]] && return 0
		sleep 0.5
	done
	echo "demo: the sandbox did not stop the source registry" >&2
	return 1
}
# fails CODE 'COMMAND' WHY: a failure demonstration; the demo stops unless
# COMMAND exits with CODE.
fails() {
	local want=$1 code=0
	last=$2
	printf '%s$ %s%s\n' "$bold" "$2" "$plain"
	eval "$2" || code=$?
	if [[ $code != "$want" ]]; then
		echo "demo: exit $code, expected $want: $3" >&2
		exit 1
	fi
	echo "exit $code, as expected: $3"
}

say "Starting the sandbox: kube-apiserver + etcd with the OpenShift CRDs, and three TLS registries with auth"
echo "building the sandbox and the demo's release builder (the first run compiles them: a few minutes)"
(cd "$root" && go build -o "$work/tools/" ./hack/sandbox ./hack/demo/mirror-lite-payload)
echo "starting kube-apiserver, etcd and the registries"
export PATH="$work/tools:$PATH"
"$work/tools/sandbox" --dir "$work/sandbox.d" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 240); do
	[[ -f "$work/sandbox.d/sandbox.env" ]] && break
	if ! kill -0 "$sandbox_pid" 2>/dev/null; then
		echo "the sandbox did not start:" >&2
		cat "$work/sandbox.log" >&2
		exit 1
	fi
	sleep 0.5
done
[[ -f "$work/sandbox.d/sandbox.env" ]] || { echo "the sandbox did not start in 2 minutes" >&2; cat "$work/sandbox.log" >&2; exit 1; }
# shellcheck source=/dev/null
source "$work/sandbox.d/sandbox.env"
echo "cluster:                        KUBECONFIG=$KUBECONFIG"
echo "release source (for quay.io):   SOURCE_REGISTRY=$SOURCE_REGISTRY"
echo "mirror registry:                REGISTRY=$REGISTRY"
echo "mirror across the air gap:      DISCONNECTED_REGISTRY=$DISCONNECTED_REGISTRY"
echo "(each registry has its own CA and password: \$*_CERT_DIR, \$*_AUTH_FILE)"
echo "working folder:                 $work"
echo "(oc and kubectl find each plugin by its file name: 'oc mhc pause' runs oc-mhc-pause; here they run by those names)"
cd "$work"

# The runbook in the order an administrator runs it; the steps share the
# helpers above, $root, $demo, $work and the sandbox's variables, and each
# reads the files the previous ones wrote into $work.
for step in connected update-service retire air-gapped migration; do
	# shellcheck source=/dev/null
	source "$demo/$step.sh"
done

say "Done in ${SECONDS}s: the whole runbook ran, every gate passed, and each failure shown failed as it should."
