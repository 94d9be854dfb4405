#!/usr/bin/env bash
# Fails, saying what to do, when the go on the PATH is older than go.mod
# needs. Debian's own golang-go package is (1.19 in bookworm, 1.24 in
# trixie); Go 1.19 cannot even read this go.mod.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=$(awk '$1 == "go" { print $2; exit }' "$root/go.mod")
if ! command -v "${GO:-go}" >/dev/null; then
	echo "Go $want or newer is needed and there is no go on the PATH: install it from https://go.dev/dl/ (Debian's golang-go package is too old)" >&2
	exit 1
fi
have=$("${GO:-go}" env GOVERSION 2>/dev/null || true)
have=${have#go}
have=${have%%[-+ ]*}
older() { # older A B: A sorts before B as a version
	[[ $1 != "$2" && $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$1" ]]
}
if [[ -z $have ]] || older "$have" "$want"; then
	echo "Go ${have:-(unknown)} is older than the $want this project needs: install Go from https://go.dev/dl/ (Debian's golang-go package is too old)" >&2
	exit 1
fi
