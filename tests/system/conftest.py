"""Fixtures that run the installed `w3msg-node` as processes on 127.0.0.1.

Every process a test starts is registered with the `procs` fixture, which stops it at teardown
(SIGTERM, then SIGKILL after a grace period) and fails the test if a node did not stop cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

W3MSG_NODE = Path(sys.executable).with_name("w3msg-node")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CONTENT_TOPIC = "/w3msg-test/1/chat/proto"  # autoshards to /waku/2/rs/1/6
AUTO_TOPIC = "/waku/2/rs/1/6"
SHARD_TOPIC = "/waku/2/rs/1/0"
# A fast heartbeat so meshes form within a fraction of a second.
FAST_RELAY = "[relay]\nheartbeat-interval = 0.1\n"


@pytest.fixture(scope="session", autouse=True)
def _installed_cli() -> None:
    if not W3MSG_NODE.exists():
        pytest.fail(f"{W3MSG_NODE} is missing: install the project (make setup) before the system tests")


def cli(*args: str, timeout: float = 30.0, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short-lived `w3msg-node` command to completion (``input``: bytes for its stdin)."""
    done = subprocess.run([str(W3MSG_NODE), *args], capture_output=True, timeout=timeout, input=input)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Proc:
    """A running `w3msg-node` process whose stdout lines are collected by a reader thread."""

    popen: subprocess.Popen[str]
    stderr_path: Path
    expect_code: int | None = 0  # checked when the fixture stops it
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # EOF

    def next_line(self, timeout: float = START_TIMEOUT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output within {timeout} s; stderr:\n{self.stderr()}")
        if line is None:
            self.popen.wait(timeout=STOP_TIMEOUT)
            pytest.fail(f"process exited ({self.popen.returncode}) early; stderr:\n{self.stderr()}")
        self.stdout.append(line)
        return line

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait; SIGKILL if it does not stop in time. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                pytest.fail(f"process {self.popen.args} ignored {signal.Signals(sig).name}; killed it")
        return self.popen.returncode


@dataclass
class NodeProc(Proc):
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def peer_id(self) -> str:
        return str(self.info["peer_id"])

    @property
    def multiaddr(self) -> str:
        return str(self.info["multiaddrs"][0])

    @property
    def rest(self) -> str:
        return str(self.info["rest"])

    def peers(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.rest}/admin/v1/peers", timeout=5)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def relay_peers(self, shard: int) -> set[str]:
        """Peer ids connected to us that announced ``shard`` in relay."""
        return {p["multiaddr"].rsplit("/p2p/", 1)[-1] for p in self.peers()
                if p["connected"] == "Connected" and shard in p["shards"]}


class Procs:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[Proc] = []
        self._count = 0
        self.fast_config = tmp_path / "fast.toml"
        self.fast_config.write_text(FAST_RELAY)

    def _stderr_file(self, name: str) -> Path:
        self._count += 1
        return self.tmp_path / f"{self._count:02d}-{name}.stderr"

    def spawn(self, *args: str, name: str = "cli") -> Proc:
        path = self._stderr_file(name)
        with open(path, "wb") as err:
            popen = subprocess.Popen([str(W3MSG_NODE), *args], stdout=subprocess.PIPE, stderr=err, text=True)
        proc = Proc(popen, path, expect_code=None)
        self.running.append(proc)
        return proc

    def node(self, *args: str, name: str = "node", data_dir: Path | None = None,
             listen: str = "/ip4/127.0.0.1/tcp/0", rest: bool = True) -> NodeProc:
        """Start `w3msg-node run` and wait for its start line."""
        data_dir = data_dir or self.tmp_path / f"{name}-data"
        cmd = [str(W3MSG_NODE), "run", "--config", str(self.fast_config), "--data-dir", str(data_dir),
               "--listen", listen, *(("--rest-port", "0") if rest else ("--no-rest",)),
               "--status-interval", "0.5", *args]
        path = self._stderr_file(name)
        with open(path, "wb") as err:
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        proc = NodeProc(popen, path)
        self.running.append(proc)
        proc.info = json.loads(proc.next_line())
        return proc

    def stop_all(self) -> list[str]:
        problems = []
        for proc in self.running:
            code = proc.stop()
            if proc.expect_code is not None and code != proc.expect_code:
                problems.append(f"{proc.popen.args[1:3]} exited {code}, expected {proc.expect_code}; "
                                f"stderr:\n{proc.stderr()}")
        return problems


@contextmanager
def managed_procs(tmp_path: Path) -> Iterator[Procs]:
    manager = Procs(tmp_path)
    try:
        yield manager
    finally:
        problems = manager.stop_all()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    with managed_procs(tmp_path) as manager:
        yield manager


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The CLI's contract for bad input: exit ``code``, one `error: ...` line, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
