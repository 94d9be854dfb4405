#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that internal/testenv runs, from the
# Go module proxy, into a version-stamped folder. A second run with the same
# versions finds the stamp and does nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/testbin"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod")
etcd=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$mod/go.mod")
dir="${TESTBIN_DIR:-$root/bin/testbin}/k8s-${k8s}-etcd-${etcd}"

if [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && -f "$dir/.stamp" ]]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
echo "building kube-apiserver $k8s and etcd $etcd into $dir (first run only, several minutes)" >&2
cd "$mod"
# Plain builds: no cgo, trimmed paths. GOFLAGS from the caller is not wanted here.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
go build -trimpath -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -trimpath -o "$dir/etcd.tmp" ./etcd
mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
mv "$dir/etcd.tmp" "$dir/etcd"
printf 'kube-apiserver %s\netcd %s\n' "$k8s" "$etcd" > "$dir/.stamp"
echo "$dir"
