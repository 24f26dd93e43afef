#!/usr/bin/env bash
# Builds the go-libp2p interop peer into interop/.cache/go/peer from the Go module proxy.
# A no-op when go.mod, go.sum and the *.go sources are unchanged (stamp = their sha256).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../.cache/go"
command -v go >/dev/null || { echo "build.sh: go toolchain not found" >&2; exit 3; }
stamp="$(cd "$here" && cat go.mod go.sum *.go | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x "$out/peer" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
    echo "go peer: up to date ($out/peer)"
    exit 0
fi
mkdir -p "$out"
cd "$here"
GOFLAGS=-mod=mod go build -trimpath -o "$out/peer.tmp" .
mv "$out/peer.tmp" "$out/peer"
echo "$stamp" > "$out/stamp"
echo "go peer: built $out/peer"
