#!/usr/bin/env bash
# Builds the rust-libp2p interop peer from crates.io into interop/.cache/rust/ (gitignored).
# A no-op when Cargo.toml, Cargo.lock and src/ are unchanged since the last successful build.
# Prints the binary's path on stdout (progress goes to stderr).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$(cd "$here/../.." && pwd)/.cache/rust"
bin="$cache/bin/rust-peer"
mkdir -p "$cache/bin"
command -v cargo >/dev/null || { echo "cargo not found (install Rust via rustup)" >&2; exit 127; }
stamp="$( (cd "$here" && cat Cargo.toml Cargo.lock $(find src -type f | LC_ALL=C sort); cargo --version) | sha256sum | cut -d' ' -f1)"
if [[ -x "$bin" && -f "$cache/stamp" && "$(cat "$cache/stamp")" == "$stamp" ]]; then
    echo "$bin"
    exit 0
fi
start=$SECONDS
CARGO_TARGET_DIR="$cache/target" cargo build --release --locked --manifest-path "$here/Cargo.toml" >&2
cp "$cache/target/release/rust-peer" "$bin.tmp" && mv "$bin.tmp" "$bin"
echo "$stamp" > "$cache/stamp"
echo "rust-peer built in $((SECONDS - start)) s" >&2
echo "$bin"
