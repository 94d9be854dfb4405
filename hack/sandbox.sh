#!/usr/bin/env bash
# sandbox.sh start DIR | stop DIR: `make sandbox` and `make sandbox-stop`.
# start runs the demo's sandbox (hack/sandbox: kube-apiserver + etcd with the
# OpenShift CRDs, and three TLS registries with passwords) in the
# background with its files in DIR, waits until it is ready, and prints the
# environment to export; it keeps running until stop.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 2 && ($1 == start || $1 == stop) ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
dir=$2
pidfile=$dir/sandbox.pid

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [[ $1 == stop ]]; then
	if ! running; then
		echo "sandbox: not running (no live process in $pidfile)" >&2
		rm -f "$pidfile"
		exit 0
	fi
	pid=$(cat "$pidfile")
	kill "$pid"
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	rm -f "$pidfile"
	echo "sandbox: stopped" >&2
	exit 0
fi

if running; then
	echo "sandbox: already running (pid $(cat "$pidfile")); make sandbox-stop ends it" >&2
else
	mkdir -p "$dir"
	echo "sandbox: building it (the first run compiles it: a few minutes)" >&2
	(cd "$root" && go build -o "$root/bin/sandbox" ./hack/sandbox)
	echo "sandbox: starting kube-apiserver, etcd and the registries in $dir" >&2
	# Its own session, so the make that started it can end without it.
	setsid "$root/bin/sandbox" --dir "$dir" >"$dir/sandbox.log" 2>&1 </dev/null &
	echo $! >"$pidfile"
	for _ in $(seq 1 240); do
		[[ -f $dir/sandbox.env ]] && break
		if ! running; then
			echo "sandbox: it did not start:" >&2
			cat "$dir/sandbox.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	[[ -f $dir/sandbox.env ]] || { echo "sandbox: not ready after 2 minutes; see $dir/sandbox.log" >&2; exit 1; }
fi

testbin=${OC_PLUGINS_TESTBIN:-$("$root/hack/testbin.sh")}
cat <<EOM
# The sandbox is running (pid $(cat "$pidfile"), log $dir/sandbox.log). In your shell:
source $dir/sandbox.env
export PATH="$root/bin:$testbin:\$PATH"    # the plugins, and its kubectl
# That sets:
$(sed 's/^export /#   /' "$dir/sandbox.env")
# KUBECONFIG is the cluster; REGISTRY is the mirror registry (REGISTRY_AUTH_FILE, whose
# password it holds, and REGISTRY_CERT_DIR, its CA, for -a and --cert-dir); SOURCE_* stands
# for quay.io and DISCONNECTED_* for the registry across an air gap. For example:
#   kubectl get clusterversion,imagedigestmirrorset
#   oc-registries-verify render
# make sandbox-stop ends it.
EOM
