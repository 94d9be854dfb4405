#!/usr/bin/env bash
# `make demo`: the steps of a disconnected OpenShift update that this suite
# automates, run for real against a local sandbox (a real kube-apiserver and
# etcd with the OpenShift CRDs, and a real registry over TLS with auth).
# Each command is printed before it runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
testbin=${OC_PLUGINS_TESTBIN:-$("$root/hack/testbin.sh")}
export PATH="$root/bin:$testbin:$PATH"

work=$(mktemp -d)
sandbox_pid=
cleanup() {
	if [[ -n "$sandbox_pid" ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() {
	printf '%s$ %s%s\n' "$bold" "$*" "$plain"
	"$@"
}

say "Starting the sandbox: kube-apiserver + etcd with the OpenShift CRDs, and a TLS registry with auth"
go build -o "$work/sandbox" "$root/hack/sandbox"
"$work/sandbox" --dir "$work" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 240); do
	[[ -f "$work/sandbox.env" ]] && break
	if ! kill -0 "$sandbox_pid" 2>/dev/null; then
		echo "the sandbox did not start:" >&2
		cat "$work/sandbox.log" >&2
		exit 1
	fi
	sleep 0.5
done
[[ -f "$work/sandbox.env" ]] || { echo "the sandbox did not start in 2 minutes" >&2; cat "$work/sandbox.log" >&2; exit 1; }
# shellcheck source=/dev/null
source "$work/sandbox.env"
echo "cluster: KUBECONFIG=$KUBECONFIG"
echo "mirror registry: $REGISTRY (used by the mirroring steps)"

# Each step of the runbook lives in hack/demo/<plugin>.sh, sourced in the
# order an administrator runs them; they share say, run, $work and the
# sandbox variables.
for step in release-sig mirror-lite icsp-migrate registries-verify mhc-pause; do
	if [[ -f "$root/hack/demo/$step.sh" ]]; then
		# shellcheck source=/dev/null
		source "$root/hack/demo/$step.sh"
	fi
done

say "Done."
