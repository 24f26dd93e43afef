#!/usr/bin/env bash
# Builds the go-waku interop peer into interop/.cache/go-waku/peer (see ../build-go-peer.sh):
# go-waku v0.10.0 with tag gowaku_no_rln (no RLN/zerokit), cgo on for go-waku's sqlite.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# go-waku pins a go-discover pseudo-version the public checksum database does not know (404):
# go.sum holds its hash, so only the sumdb lookup is skipped for it.
GONOSUMDB=github.com/waku-org/go-discover CGO_ENABLED=1 \
    exec bash "$here/../build-go-peer.sh" "$here" go-waku -tags gowaku_no_rln
