#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that internal/testenv runs, the
# kubectl of the same release for the demo and end-to-end tests, and the real
# opm that checks and serves rebuilt catalogs, from the Go module proxy, into a
# version-stamped folder. A second run with the same versions finds the stamp
# and does nothing; a folder missing only some binaries gets only those built.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/testbin"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2}' "$mod/go.mod")
etcd=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$mod/go.mod")
opm=$(awk '$1=="require" && $2=="github.com/operator-framework/operator-registry"{print $3}' "$root/hack/opm/go.mod")
dir="${TESTBIN_DIR:-$root/bin/testbin}/k8s-${k8s}-etcd-${etcd}"

stamp=$(printf 'kube-apiserver %s\nkubectl %s\netcd %s\nopm %s\n' "$k8s" "$k8s" "$etcd" "$opm")
built() { [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && -x "$dir/kubectl" && -x "$dir/opm" && "$(cat "$dir/.stamp" 2>/dev/null)" == "$stamp" ]]; }
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
missing=()
for b in kube-apiserver kubectl etcd; do [[ -x "$dir/$b" ]] || missing+=("$b"); done
if ((${#missing[@]})); then
	cat >&2 <<EOM
testbin: first run only: building kube-apiserver and kubectl $k8s and etcd $etcd from
testbin: source into $dir. This downloads their modules through $(go env GOPROXY | cut -d, -f1)
testbin: (about 1 GB into $(go env GOMODCACHE)), needs about 5 GB of build cache in
testbin: $(go env GOCACHE), and takes about 10 minutes on two cores. Later runs reuse them.
EOM
fi
start=$SECONDS
step=0
total=$((${#missing[@]} + 1))
progress() { step=$((step + 1)); echo "testbin: ($step/$total) building $1 ($((SECONDS - start))s so far)" >&2; }
(
	cd "$mod"
	# Plain builds: no cgo, trimmed paths. GOFLAGS from the caller is not wanted here.
	export CGO_ENABLED=0 GOFLAGS=-mod=mod
	for b in "${missing[@]}"; do
		progress "$b"
		case $b in
		kube-apiserver) go build -trimpath -o "$dir/$b.tmp" k8s.io/kubernetes/cmd/kube-apiserver ;;
		kubectl) go build -trimpath -o "$dir/$b.tmp" k8s.io/kubernetes/cmd/kubectl ;;
		etcd) go build -trimpath -o "$dir/$b.tmp" ./etcd ;;
		esac
		mv "$dir/$b.tmp" "$dir/$b"
	done
)
if [[ ! -x "$dir/opm" ]]; then
	progress "opm $opm"
	# opm links SQLite (it still reads pre-4.11 catalogs), so it needs cgo and gcc;
	# the tags are those opm is released with, minus the C libraries for GPG and btrfs.
	(cd "$root/hack/opm" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -tags=json1,containers_image_openpgp,exclude_graphdriver_btrfs,exclude_graphdriver_devicemapper -o "$dir/opm.tmp" github.com/operator-framework/operator-registry/cmd/opm)
	mv "$dir/opm.tmp" "$dir/opm"
fi
echo "testbin: built in $((SECONDS - start))s" >&2
echo "$stamp" > "$dir/.stamp"
echo "$dir"
