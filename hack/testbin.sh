#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that internal/testenv runs, and the
# kubectl of the same release for the demo and end-to-end tests, from the Go
# module proxy, into a version-stamped folder. A second run with the same
# versions finds the stamp and does nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/testbin"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod")
etcd=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$mod/go.mod")
dir="${TESTBIN_DIR:-$root/bin/testbin}/k8s-${k8s}-etcd-${etcd}"

built() { [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && -x "$dir/kubectl" && -f "$dir/.stamp" ]]; }
if built; then
	echo "$dir"
	exit 0
fi

# Test packages run in parallel and may all ask at once: one builds, the
# others wait for it and then find the stamp.
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if built; then
	echo "$dir"
	exit 0
fi
echo "building kube-apiserver and kubectl $k8s and etcd $etcd into $dir (first run only, several minutes)" >&2
cd "$mod"
# Plain builds: no cgo, trimmed paths. GOFLAGS from the caller is not wanted here.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
go build -trimpath -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -o "$dir/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
go build -trimpath -o "$dir/etcd.tmp" ./etcd
for b in kube-apiserver kubectl etcd; do mv "$dir/$b.tmp" "$dir/$b"; done
printf 'kube-apiserver %s\nkubectl %s\netcd %s\n' "$k8s" "$k8s" "$etcd" > "$dir/.stamp"
echo "$dir"
