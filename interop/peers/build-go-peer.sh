#!/usr/bin/env bash
# Builds a Go interop peer from the Go module proxy: build-go-peer.sh <peer dir> <name> [go build flags...]
# -> interop/.cache/<name>/peer. A no-op when go.mod, go.sum, the *.go sources, the flags and the Go
# version are unchanged (stamp = their sha256). Exits 3 when the go toolchain is missing.
set -euo pipefail
here="$(cd "$1" && pwd)"
name="$2"
shift 2
out="$here/../../.cache/$name"
command -v go >/dev/null || { echo "build.sh: go toolchain not found: the $name interop peer cannot be built" >&2; exit 3; }
stamp="$(cd "$here" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1) $(go env GOVERSION) $*"
if [[ -x "$out/peer" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
    echo "$name peer: up to date ($out/peer)"
    exit 0
fi
mkdir -p "$out"
cd "$here"
GOFLAGS=-mod=mod go build -trimpath "$@" -o "$out/peer.tmp" .
mv "$out/peer.tmp" "$out/peer"
echo "$stamp" > "$out/stamp"
echo "$name peer: built $out/peer"
