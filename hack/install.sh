#!/bin/sh
# install.sh DIR: installs the plugins into DIR (created if missing): the one
# binary, ocplugins, and under the names oc and kubectl find plugins by,
# links to it: oc-NAME and kubectl-NAME for every plugin, and the
# kubectl_complete-NAME and oc_complete-NAME helpers their shell completion
# runs. Needs no Go and no network: `make install` runs it, and it is
# install.sh in the bundle archive `make dist` writes, next to ocplugins.
# OCPLUGINS names the binary to install (default: ocplugins beside this script).
set -eu

usage() { echo "usage: $0 DIR   (e.g. $0 /usr/local/bin, or $0 \"\$HOME/.local/bin\")" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1
bin=${OCPLUGINS:-$(dirname "$0")/ocplugins}
[ -x "$bin" ] || { echo "install.sh: $bin is not an executable" >&2; exit 1; }

mkdir -p "$dir"
# Copy then rename: a running plugin is never overwritten in place.
cp "$bin" "$dir/.ocplugins.tmp"
chmod 0755 "$dir/.ocplugins.tmp"
mv -f "$dir/.ocplugins.tmp" "$dir/ocplugins"
names=$("$dir/ocplugins" --names) || { echo "install.sh: $dir/ocplugins does not run on this machine" >&2; exit 1; }
n=0
for name in $names; do
	for link in "oc-$name" "kubectl-$name" "oc_complete-$name" "kubectl_complete-$name"; do
		ln -sfn ocplugins "$dir/$link"
	done
	n=$((n + 1))
done
echo "installed ocplugins and $n plugins (oc-*, kubectl-*, and their completion helpers) into $dir" >&2
