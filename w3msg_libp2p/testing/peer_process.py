"""A peer of another implementation, as a subprocess driven over JSON lines (the protocol of
interop/peers/js/README.md): commands on stdin, replies and events on stdout."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

REPLY_TIMEOUT = 60.0
STOP_GRACE = 5.0


class PeerError(Exception):
    """The peer answered a command with an error, died, or did not answer in time."""


class PeerProcess:
    """Sends commands, collects replies, ``message`` and ``rejected`` events; ``label`` names the
    peer in errors. Run ``read_loop`` in a nursery; ``stop()`` ends the process."""

    label = "peer"
    reply_timeout = REPLY_TIMEOUT

    def __init__(self, process: trio.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.ready: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []  # {"event": "message", ...} in arrival order
        self.rejected: list[dict[str, Any]] = []  # messages the peer's validator refused
        self._replies: dict[int, dict[str, Any]] = {}
        self._changed = trio.Event()
        self._ids = itertools.count(1)
        self._eof = False
        self._stdin_lock = trio.Lock()  # commands may be sent from several tasks at once

    @property
    def peer_id(self) -> str:
        return str(self.ready["peer_id"])

    def multiaddr(self, transport: str = "tcp") -> str:
        for addr in self.ready["multiaddrs"]:
            if (addr.split("/")[5] == "ws") == (transport == "ws"):
                return str(addr)
        raise PeerError(f"{self.label} has no {transport} address: {self.ready['multiaddrs']}")

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
                *lines, buf = (buf + data).split(b"\n")
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
                    raise PeerError(f"{self.label} exited while waiting for {what}\n{self.log_tail()}")
                await self._changed.wait()
            return
        raise PeerError(f"{self.label}: no {what} within {timeout} s\n{self.log_tail()}")

    async def command(self, cmd: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        timeout = self.reply_timeout if timeout is None else timeout
        cmd_id = next(self._ids)
        async with self._stdin_lock:
            await self.process.stdin.send_all((json.dumps({"id": cmd_id, "cmd": cmd, **fields}) + "\n").encode())
        await self.wait_until(lambda: cmd_id in self._replies, timeout, f"reply to {cmd}")
        reply = self._replies.pop(cmd_id)
        if reply.get("event") == "error":
            raise PeerError(f"{self.label}: {cmd} failed: {reply.get('error')}")
        return reply

    async def stop(self) -> None:
        """Close stdin (the peer exits by itself), then kill it if it lingers."""
        with trio.CancelScope(shield=True):
            if self.process.stdin is not None:
                with contextlib.suppress(trio.BrokenResourceError):  # already exited
                    await self.process.stdin.aclose()
            with trio.move_on_after(STOP_GRACE):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()


P = TypeVar("P", bound=PeerProcess)


@asynccontextmanager
async def peer_launcher(make: Callable[[trio.Process, Path], P], log_dir: Path, name: str, *,
                        cwd: Path | None = None, env: dict[str, str] | None = None,
                        ready_timeout: float = 30.0) -> AsyncIterator[Callable[..., Awaitable[P]]]:
    """A function starting peer processes (its arguments are the argv), each returned once its
    ready line arrived; every one is stopped when the block ends."""
    started: list[P] = []
    async with trio.open_nursery() as nursery:

        async def launch(*argv: str) -> P:
            log_path = log_dir / f"{name}-{len(started)}.log"
            with log_path.open("wb") as log:
                process = await trio.lowlevel.open_process(
                    list(argv), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
            peer = make(process, log_path)
            started.append(peer)
            await nursery.start(peer.read_loop)
            await peer.wait_until(lambda: bool(peer.ready), ready_timeout, "ready line")
            return peer

        try:
            yield launch
        finally:
            for peer in started:
                await peer.stop()
            nursery.cancel_scope.cancel()
