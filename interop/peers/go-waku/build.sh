#!/usr/bin/env bash
# Builds the go-waku interop peer into interop/.cache/go-waku/peer from the Go module proxy
# (go-waku v0.10.0, tag gowaku_no_rln: no RLN/zerokit; cgo on for go-waku's sqlite).
# A no-op when go.mod, go.sum, the .go sources and the Go version are unchanged (stamp = their sha256).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../.cache/go-waku"
command -v go >/dev/null || { echo "build.sh: go toolchain not found: the go-waku interop peer cannot be built" >&2; exit 3; }
stamp="$(cd "$here" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -x "$out/peer" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
    echo "go-waku peer: up to date ($out/peer)"
    exit 0
fi
mkdir -p "$out"
cd "$here"
# go-waku pins a go-discover pseudo-version the public checksum database does not know (404):
# go.sum holds its hash, so only the sumdb lookup is skipped for it.
GONOSUMDB=github.com/waku-org/go-discover GOFLAGS=-mod=mod CGO_ENABLED=1 \
    go build -tags gowaku_no_rln -trimpath -o "$out/peer.tmp" .
mv "$out/peer.tmp" "$out/peer"
echo "$stamp" > "$out/stamp"
echo "go-waku peer: built $out/peer"
