#!/usr/bin/env bash
# Cross-build the plugins into release archives and render their krew manifests.
#
# Run through `make dist`, which sets:
#   VERSION  release tag, semver with a leading v (v1.2.3, v0.0.0-dev)
#   PLUGINS  binaries to ship, the cmd/oc-* directory names
#   ALIASES  extra names a binary answers to, "alias=binary ..." (may be empty)
#   LDFLAGS  passed to go build -ldflags (may be empty)
# Optional:
#   DIST_DIR        output directory, relative to the repository root (default dist)
#   DIST_PLATFORMS  os/arch list (default: linux and darwin, amd64 and arm64)
#   SOURCE_DATE_EPOCH  mtime stored in the archives (default: HEAD's commit time)
#   GO              the go command (default go)
#
# Writes, into DIST_DIR:
#   <plugin>_<version>_<os>_<arch>.tar.gz  the binary, its aliases as plain copies
#                                          (krew cannot unpack symlinks) and LICENSE
#   ocplugins_<version>_<os>_<arch>.tar.gz the bundle: every plugin in one binary
#                                          (cmd/ocplugins), install.sh and LICENSE,
#                                          installed with no Go and no network
#   krew/<krew-name>.yaml                  plugins.yaml rendered for this release
#   checksums.txt                          sha256sum lines for the archives, written last
# Everything is built in a temporary directory and renamed into place at the end,
# so a failed run leaves no partial archive, manifest or checksums.txt behind.
set -euo pipefail

cd "$(dirname "$0")/.."

die() {
	echo "dist: $*" >&2
	exit 1
}

: "${VERSION:?VERSION is not set (run make dist)}"
: "${PLUGINS?PLUGINS is not set (run make dist)}"
ALIASES=${ALIASES-}
LDFLAGS=${LDFLAGS-}
DIST_DIR=${DIST_DIR:-dist}
DIST_PLATFORMS=${DIST_PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
GO=${GO:-go}
TEMPLATE=plugins.yaml
RELEASE_URL=https://github.com/airgap-ocp/oc-plugins/releases/download

semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'
[[ $VERSION =~ $semver ]] || die "VERSION $VERSION is not a semantic version with a leading v (v1.2.3)"
[[ -f LICENSE ]] || die "LICENSE is missing"
[[ -f $TEMPLATE ]] || die "$TEMPLATE is missing"
[[ -n ${DIST_PLATFORMS// /} ]] || die "DIST_PLATFORMS is empty"
for pl in $DIST_PLATFORMS; do
	# Windows would need .exe names in the archives and manifests.
	[[ $pl =~ ^(linux|darwin)/[a-z0-9]+$ ]] || die "platform $pl: want linux/<arch> or darwin/<arch>"
done
[[ -n ${PLUGINS// /} ]] || die "no plugins to package (PLUGINS is empty: no cmd/oc-* directory?)"
for p in $PLUGINS; do
	[[ $p =~ ^oc-[a-z0-9]+(-[a-z0-9]+)*$ ]] || die "plugin $p: name must be oc-<lowercase-words>"
	[[ -d cmd/$p ]] || die "plugin $p: cmd/$p does not exist"
done

# pack ROOT ARCHIVE: a reproducible tar.gz of ROOT's files into the stage, and
# its checksums.txt line. Names sorted bytewise, fixed mtime and owner, no pax
# headers, and gzip without the name and time stamp.
pack() {
	local sum
	(cd "$1" && printf '%s\n' * | LC_ALL=C sort |
		tar --format=gnu --mtime="@$mtime" --owner=0 --group=0 --numeric-owner \
			--no-recursion -T - -cf -) | gzip -9n >"$stage/out/$2" ||
		die "packing $2 failed"
	sum=$(sha256sum "$stage/out/$2")
	sum=${sum%% *}
	echo "$sum  $2" >>"$stage/checksums.txt"
	packed_sum=$sum
}

# aliases_of BINARY prints the alias names whose target is BINARY.
aliases_of() {
	local a
	for a in $ALIASES; do
		[[ ${a#*=} == "$1" ]] && echo "${a%%=*}"
	done
	return 0
}
for a in $ALIASES; do
	[[ $a =~ ^(oc-[a-z0-9-]+)=(oc-[a-z0-9-]+)$ ]] || die "alias $a: want oc-<name>=oc-<binary>"
	[[ " $PLUGINS " == *" ${BASH_REMATCH[2]} "* ]] || die "alias $a: ${BASH_REMATCH[2]} is not in PLUGINS"
	[[ " $PLUGINS " != *" ${BASH_REMATCH[1]} "* ]] || die "alias $a: ${BASH_REMATCH[1]} is itself a plugin"
done

if [[ -n ${SOURCE_DATE_EPOCH-} ]]; then
	mtime=$SOURCE_DATE_EPOCH
else
	mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
[[ $mtime =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH $mtime is not a number of seconds"

mkdir -p "$DIST_DIR"
stage=$(mktemp -d "$DIST_DIR/.dist-tmp.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/out" "$stage/krew"
: >"$stage/platforms" # rows: krew-name os arch uri sha256

krew_names=()
for p in $PLUGINS; do
	krew_names+=("${p#oc-}")
	aliases=$(aliases_of "$p")
	for pl in $DIST_PLATFORMS; do
		os=${pl%/*} arch=${pl#*/}
		echo "dist: building $p for $os/$arch" >&2
		root="$stage/root"
		rm -rf "$root"
		mkdir "$root"
		# -buildvcs=false: the version is VERSION; the checkout's state (a
		# later commit, an untracked file) must not change the bytes.
		GOOS=$os GOARCH=$arch CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$root/$p" "./cmd/$p" ||
			die "building $p for $os/$arch failed"
		chmod 0755 "$root/$p"
		for a in $aliases; do
			cp -p "$root/$p" "$root/$a"
		done
		cp LICENSE "$root/LICENSE"
		chmod 0644 "$root/LICENSE"

		archive="${p}_${VERSION}_${os}_${arch}.tar.gz"
		pack "$root" "$archive"
		echo "${p#oc-} $os $arch $RELEASE_URL/$VERSION/$archive $packed_sum" >>"$stage/platforms"
	done
done

# The bundle for the disconnected side: one file per platform holding every
# plugin (one multi-call binary) and the script that links their names.
if [[ -z ${DIST_NO_BUNDLE-} ]]; then
	for pl in $DIST_PLATFORMS; do
		os=${pl%/*} arch=${pl#*/}
		echo "dist: building the ocplugins bundle for $os/$arch" >&2
		root="$stage/root"
		rm -rf "$root"
		mkdir "$root"
		GOOS=$os GOARCH=$arch CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$root/ocplugins" ./cmd/ocplugins ||
			die "building ocplugins for $os/$arch failed"
		chmod 0755 "$root/ocplugins"
		cp hack/install.sh "$root/install.sh"
		chmod 0755 "$root/install.sh"
		cp LICENSE "$root/LICENSE"
		chmod 0644 "$root/LICENSE"
		pack "$root" "ocplugins_${VERSION}_${os}_${arch}.tar.gz"
	done
fi
rm -rf "$stage/root"

# Render one manifest per plugin from the template. A document is kept when its
# metadata.name is one of ours; its platforms item is repeated per built platform.
awk -v names="${krew_names[*]}" -v version="$VERSION" -v table="$stage/platforms" \
	-v outdir="$stage/krew" -v template="$TEMPLATE" '
function fail(msg) { print "dist: " template ": " msg > "/dev/stderr"; failed = 1; exit 1 }
function subst(s, key, val,   i, out) {
	out = ""
	while ((i = index(s, key)) > 0) {
		out = out substr(s, 1, i - 1) val
		s = substr(s, i + length(key))
	}
	return out s
}
function emit(line, out) {
	if (line ~ /\{\{[^}]*\}\}/) fail("unknown or misplaced placeholder in " out ": " line)
	print line > out
}
function flush(   i, j, name, inmeta, pstart, out, line) {
	if (nl == 0) return
	name = ""; inmeta = 0; pstart = 0
	for (i = 1; i <= nl; i++) {
		if (doc[i] ~ /^metadata:/) inmeta = 1
		else if (doc[i] ~ /^[^ #]/) inmeta = 0
		else if (inmeta && doc[i] ~ /^  name:/) {
			name = doc[i]
			sub(/^  name:[ \t]*/, "", name); sub(/[ \t]+$/, "", name); gsub(/"/, "", name)
		}
		if (doc[i] ~ /^  platforms:[ \t]*$/) pstart = i
	}
	if (name == "") fail("document " ndoc " has no metadata.name")
	if (name in seen) fail("two documents are named " name)
	seen[name] = 1
	if (name in wanted) {
		if (!pstart || pstart == nl) fail(name ": spec.platforms must be the last field, with one item")
		if (!(name in nplat)) fail(name ": no platform was built")
		out = outdir "/" name ".yaml"
		for (i = 1; i <= pstart; i++) emit(subst(doc[i], "{{VERSION}}", version), out)
		for (j = 1; j <= nplat[name]; j++)
			for (i = pstart + 1; i <= nl; i++) {
				line = subst(doc[i], "{{VERSION}}", version)
				line = subst(line, "{{OS}}", pos[name, j])
				line = subst(line, "{{ARCH}}", parch[name, j])
				line = subst(line, "{{URI}}", puri[name, j])
				line = subst(line, "{{SHA256}}", psha[name, j])
				emit(line, out)
			}
		close(out)
	}
	nl = 0
}
BEGIN {
	n = split(names, w, " ")
	for (i = 1; i <= n; i++) wanted[w[i]] = 1
	while ((getline row < table) > 0) {
		split(row, f, " ")
		k = ++nplat[f[1]]
		pos[f[1], k] = f[2]; parch[f[1], k] = f[3]; puri[f[1], k] = f[4]; psha[f[1], k] = f[5]
	}
}
/^---[ \t]*$/ { flush(); ndoc++; next }
ndoc == 0 { next } # the header comment
{ doc[++nl] = $0 }
END {
	if (failed) exit 1
	flush()
	for (i = 1; i <= n; i++)
		if (!(w[i] in seen)) fail("no document for plugin oc-" w[i] " (metadata.name: " w[i] ")")
}' "$TEMPLATE" || die "rendering krew manifests failed"

LC_ALL=C sort -k2 -o "$stage/checksums.txt" "$stage/checksums.txt"

# Publish: drop the old checksums.txt first and write the new one last, so a
# checksums.txt present means every file it lists is from the same run.
rm -f "$DIST_DIR/checksums.txt"
for f in "$stage"/out/*.tar.gz; do
	mv -f "$f" "$DIST_DIR/"
done
if [[ -e $DIST_DIR/krew ]]; then
	mv "$DIST_DIR/krew" "$stage/krew.old"
fi
mv "$stage/krew" "$DIST_DIR/krew"
mv "$stage/checksums.txt" "$DIST_DIR/checksums.txt"

echo "dist: wrote $(wc -l <"$DIST_DIR/checksums.txt") archives, checksums.txt and krew/ into $DIST_DIR" >&2
