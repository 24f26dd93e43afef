#!/usr/bin/env bash
# Builds the go-libp2p interop peer into interop/.cache/go/peer (see ../build-go-peer.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../build-go-peer.sh" "$here" go
