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
"$root/hack/check-go.sh"
cat >&2 <<EOM
testbin: first run only: building kube-apiserver and kubectl $k8s and etcd $etcd from
testbin: source into $dir. This downloads their modules through $(go env GOPROXY | cut -d, -f1)
testbin: (about 1 GB into $(go env GOMODCACHE)), needs about 5 GB of build cache in
testbin: $(go env GOCACHE), and takes about 10 minutes on two cores. Later runs reuse them.
EOM
cd "$mod"
# Plain builds: no cgo, trimmed paths. GOFLAGS from the caller is not wanted here.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$SECONDS
echo "testbin: (1/3) building kube-apiserver" >&2
go build -trimpath -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
echo "testbin: (2/3) building kubectl ($((SECONDS - start))s so far)" >&2
go build -trimpath -o "$dir/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
echo "testbin: (3/3) building etcd ($((SECONDS - start))s so far)" >&2
go build -trimpath -o "$dir/etcd.tmp" ./etcd
echo "testbin: built in $((SECONDS - start))s" >&2
for b in kube-apiserver kubectl etcd; do mv "$dir/$b.tmp" "$dir/$b"; done
printf 'kube-apiserver %s\nkubectl %s\netcd %s\n' "$k8s" "$k8s" "$etcd" > "$dir/.stamp"
echo "$dir"
