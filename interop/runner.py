"""Interop scenario runner: our node (open_node on 127.0.0.1) against peers of other libp2p implementations.

Scenarios are data (interop/scenarios/*.json): ``name``, ``peer`` (a kind in PEERS), ``mode`` (the peer's
gossipsub configuration), ``kind`` (connect | echo | gossipsub), ``other`` ("node" = our node, or a peer
kind for peer-to-peer baselines), ``directions`` (peer_dials | other_dials), ``expect`` ("pass", or "observe"
for scenarios that only record what happens) and ``params``. Each scenario runs once per direction with fresh
processes; results go to interop/.cache/results.json and a matrix is printed.

    .venv/bin/python interop/runner.py [--peer go] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID

from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "interop" / ".cache"
SCENARIO_DIR = ROOT / "interop" / "scenarios"
RESULTS = CACHE / "results.json"
ECHO = TProtocol("/w3msg/echo/1.0.0")
PING = TProtocol("/ipfs/ping/1.0.0")
TOPIC = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/interop/1/w3msg/proto"
REPLY_TIMEOUT = 120.0


@dataclass(frozen=True)
class PeerKind:
    build: Path  # script building the peer; a no-op when up to date
    binary: Path

    def argv(self, mode: str) -> list[str]:
        return [str(self.binary), "--mode", mode]


PEERS = {
    "go": PeerKind(ROOT / "interop/peers/go/build.sh", CACHE / "go/peer"),
    "rust": PeerKind(ROOT / "interop/peers/rust/build.sh", CACHE / "rust/bin/rust-peer"),
}


def build_peer(kind: str) -> float:
    """Run the peer's build script; returns its wall time. Raises PeerError when it fails."""
    start = time.monotonic()
    proc = subprocess.run(["bash", str(PEERS[kind].build)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PeerError(f"building the {kind} peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.monotonic() - start


@asynccontextmanager
async def peer_process(kind: str, mode: str, log_path: Path) -> AsyncIterator[PeerProcess]:
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            PEERS[kind].argv(mode), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    peer = PeerProcess(process, log_path)
    peer.reply_timeout = REPLY_TIMEOUT  # scenarios publish thousands of messages per command
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(peer.read_loop)
            await peer.wait_until(lambda: bool(peer.ready), 30.0, "ready line")
            yield peer
            nursery.cancel_scope.cancel()
    finally:
        await peer.stop()


async def _read_chunk(stream: Any) -> bytes:
    """b"" at end of stream (py-libp2p raises StreamEOF there rather than returning b"")."""
    try:
        return bytes(await stream.read(65536))
    except StreamEOF:
        return b""


async def _serve_echo(stream: Any) -> None:
    """Our side of /w3msg/echo/1.0.0: echo everything until EOF, then half-close."""
    try:
        while data := await _read_chunk(stream):
            await stream.write(data)
        await stream.close_write()
    finally:
        await stream.close()


async def _read_exactly(stream: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        try:
            chunk = await stream.read(n - len(buf))
        except StreamEOF:
            chunk = b""
        if not chunk:
            raise PeerError(f"stream closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PeerParty:
    """A peer process as one side of a scenario."""

    def __init__(self, peer: PeerProcess) -> None:
        self.peer = peer
        self.peer_id = peer.peer_id
        self.addr = str(peer.ready["multiaddrs"][0])

    async def dial(self, addr: str) -> dict[str, Any]:
        reply = await self.peer.command("dial", multiaddr=addr)
        return {"handshakePlusOneRTTMillis": reply["handshake_plus_one_rtt_ms"],
                "pingRTTMilllis": reply["ping_rtt_ms"]}

    async def ping(self, peer_id: str, count: int) -> list[float]:
        return list((await self.peer.command("ping", peer_id=peer_id, count=count))["rtts_ms"])

    async def protocols_of(self, peer_id: str) -> list[str]:
        return list((await self.peer.command("identify", peer_id=peer_id, timeout_ms=10000))["protocols"])

    async def echo(self, peer_id: str, size: int) -> dict[str, Any]:
        r = await self.peer.command("echo", peer_id=peer_id, size=size, timeout_ms=60000)
        return {"ok": r["ok"], "bytes": r["bytes"], "ms": r["ms"]}

    async def subscribe(self, topic: str) -> None:
        await self.peer.command("subscribe", topic=topic)

    async def wait_mesh(self, topic: str, peer_id: str, timeout: float) -> None:
        await self.peer.command("wait_mesh", topic=topic, peer_id=peer_id, timeout_ms=int(timeout * 1000))

    async def publish(self, topic: str, count: int, size: int, interval_us: int) -> tuple[list[str], list[str]]:
        r = await self.peer.command("publish", timeout=count * 1.0 + 60, topic=topic, count=count, size=size,
                                    interval_us=interval_us)
        return [m["sha256"] for m in r["messages"]], list(r["errors"])

    def received(self) -> set[str]:
        return {m["sha256"] for m in self.peer.messages}

    async def stats(self) -> dict[str, Any]:
        s = await self.peer.command("stats")
        return {k: s[k] for k in ("received", "published", "rejected", "duplicates", "dropped_rpcs",
                                  "mesh", "connections")}


class NodeParty:
    """Our node as one side of a scenario; a background task records every message it delivers."""

    def __init__(self, node: Node, nursery: trio.Nursery) -> None:
        self.node = node
        self.nursery = nursery
        self.peer_id = node.peer_id
        self.addr = node.listen_addrs()[0]
        self._received: set[str] = set()
        node.host.set_stream_handler(ECHO, _serve_echo)

    async def dial(self, addr: str) -> dict[str, Any]:
        start = time.monotonic()
        peer_id = await self.node.connect(addr)
        rtt = await self._ping_once(peer_id)
        return {"handshakePlusOneRTTMillis": _ms(time.monotonic() - start), "pingRTTMilllis": _ms(rtt)}

    async def _ping_once(self, peer_id: str) -> float:
        stream = await self.node.host.new_stream(ID.from_base58(peer_id), [PING])
        try:
            payload = secrets.token_bytes(32)
            start = time.monotonic()
            await stream.write(payload)
            if await _read_exactly(stream, 32) != payload:
                raise PeerError("ping payload mismatch")
            return time.monotonic() - start
        finally:
            await stream.close()

    async def ping(self, peer_id: str, count: int) -> list[float]:
        return [_ms(await self._ping_once(peer_id)) for _ in range(count)]

    async def protocols_of(self, peer_id: str) -> list[str]:
        with trio.move_on_after(10):
            while True:
                for p in self.node.peers():
                    if p.peer_id == peer_id and p.protocols:
                        return sorted(p.protocols)
                await trio.sleep(0.02)
        raise PeerError(f"our node learnt no protocols of {peer_id} by identify")

    async def echo(self, peer_id: str, size: int) -> dict[str, Any]:
        data = secrets.token_bytes(size)
        start = time.monotonic()
        stream: Any = await self.node.host.new_stream(ID.from_base58(peer_id), [ECHO])  # NetStream: close_write
        got = bytearray()

        async def read_all() -> None:
            while chunk := await _read_chunk(stream):
                got.extend(chunk)

        try:
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_all)
                    await stream.write(data)
                    await stream.close_write()
        finally:
            await stream.close()
        return {"ok": bytes(got) == data, "bytes": len(got), "ms": _ms(time.monotonic() - start)}

    async def subscribe(self, topic: str) -> None:
        assert self.node.relay is not None
        self.node.relay.subscribe(topic)
        await self.nursery.start(self._collect, topic)

    async def _collect(self, topic: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.node.relay is not None
        with self.node.relay.messages(pubsub_topic=topic, buffer=100_000) as sub:
            task_status.started()
            async for env in sub:
                self._received.add(_sha(encode_message(env.message)))

    async def wait_mesh(self, topic: str, peer_id: str, timeout: float) -> None:
        assert self.node.relay is not None
        with trio.move_on_after(timeout):
            while peer_id not in {str(p) for p in self.node.relay.mesh_peers(topic)}:
                await trio.sleep(0.02)
            return
        raise PeerError(f"{peer_id} not in our mesh of {topic} within {timeout} s")

    async def publish(self, topic: str, count: int, size: int, interval_us: int) -> tuple[list[str], list[str]]:
        assert self.node.relay is not None
        sent, errors = [], []
        for _ in range(count):
            msg = WakuMessage(payload=secrets.token_bytes(size), content_topic=CONTENT_TOPIC,
                              timestamp=time.time_ns())
            try:
                await self.node.relay.publish(topic, msg)
                sent.append(_sha(encode_message(msg)))
            except Exception as exc:  # every failure is counted and reported
                errors.append(f"{type(exc).__name__}: {exc}")
            await trio.sleep(interval_us / 1e6)
        return sent, errors

    def received(self) -> set[str]:
        return set(self._received)

    async def stats(self) -> dict[str, Any]:
        assert self.node.relay is not None
        s = self.node.relay.statistics()
        return {"relay": {k: s[k] for k in ("peers", "drops") if k in s},
                "connected_peers": self.node.connected_peer_ids()}


Party = PeerParty | NodeParty


@asynccontextmanager
async def node_party(workdir: Path) -> AsyncIterator[NodeParty]:
    config = NodeConfig(data_dir=workdir / "node", listen=("/ip4/127.0.0.1/tcp/0",), rest=None, shards=(0,),
                        store=None, filter=None, lightpush=None, peer_exchange=None)
    async with open_node(config) as node, trio.open_nursery() as nursery:
        yield NodeParty(node, nursery)
        nursery.cancel_scope.cancel()


@dataclass
class Result:
    peer: str
    scenario: str
    direction: str
    other: str
    expect: str
    ok: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.expect == "observe":
            return "observed"
        return "pass" if self.ok else "FAIL"


async def _connect(a: Party, b: Party, figures: dict[str, Any]) -> None:
    figures["dial"] = await a.dial(b.addr)
    # the test-plans line a dialer prints
    print(json.dumps(figures["dial"]), flush=True)


async def scenario_connect(a: Party, b: Party, params: dict[str, Any], figures: dict[str, Any]) -> bool:
    await _connect(a, b, figures)
    a_knows, b_knows = await a.protocols_of(b.peer_id), await b.protocols_of(a.peer_id)
    figures["dialer_learnt"], figures["listener_learnt"] = a_knows, b_knows
    want = set(params.get("protocols", [str(PING)]))
    n = int(params.get("pings", 5))
    figures["ping_dialer_ms"] = await a.ping(b.peer_id, n)
    figures["ping_listener_ms"] = await b.ping(a.peer_id, n)
    return want <= set(a_knows) and want <= set(b_knows) and len(figures["ping_listener_ms"]) == n


async def scenario_echo(a: Party, b: Party, params: dict[str, Any], figures: dict[str, Any]) -> bool:
    await _connect(a, b, figures)
    size = int(params["size"])
    figures["dialer_echo"] = await a.echo(b.peer_id, size)
    figures["listener_echo"] = await b.echo(a.peer_id, size)
    return all(figures[k]["ok"] and figures[k]["bytes"] == size for k in ("dialer_echo", "listener_echo"))


async def _flow(src: Party, dst: Party, topic: str, params: dict[str, Any]) -> dict[str, Any]:
    count, size, interval = int(params["count"]), int(params["size"]), int(params.get("interval_us", 0))
    before = dst.received()
    start = time.monotonic()
    sent, errors = await src.publish(topic, count, size, interval)
    with trio.move_on_after(float(params.get("deliver_timeout_s", 30))):
        while not set(sent) <= dst.received():
            await trio.sleep(0.05)
    elapsed = time.monotonic() - start
    delivered = len(set(sent) & (dst.received() - before))
    return {"published": len(sent), "publish_errors": len(errors), "first_errors": errors[:3],
            "delivered": delivered, "delivery": round(delivered / count, 4) if count else 1.0,
            "seconds": round(elapsed, 3), "msgs_per_s": round(delivered / elapsed, 1) if elapsed else None}


async def scenario_gossipsub(a: Party, b: Party, params: dict[str, Any], figures: dict[str, Any]) -> bool:
    topic = str(params.get("topic", TOPIC))
    await a.subscribe(topic)
    await b.subscribe(topic)
    await _connect(a, b, figures)
    mesh_timeout = float(params.get("mesh_timeout_s", 15))
    try:
        await a.wait_mesh(topic, b.peer_id, mesh_timeout)
        await b.wait_mesh(topic, a.peer_id, mesh_timeout)
        figures["mesh"] = True
    except PeerError as exc:
        figures["mesh"] = False
        figures["mesh_error"] = str(exc).splitlines()[0]
    figures["dialer_to_listener"] = await _flow(a, b, topic, params)
    figures["listener_to_dialer"] = await _flow(b, a, topic, params)
    figures["dialer_stats"], figures["listener_stats"] = await a.stats(), await b.stats()
    want = float(params.get("expect_delivery", 1.0))
    return all(figures[k]["delivery"] >= want for k in ("dialer_to_listener", "listener_to_dialer"))


SCENARIOS = {"connect": scenario_connect, "echo": scenario_echo, "gossipsub": scenario_gossipsub}


@asynccontextmanager
async def _party(kind: str, mode: str, workdir: Path, tag: str) -> AsyncIterator[Party]:
    if kind == "node":
        async with node_party(workdir) as n:
            yield n
    else:
        async with peer_process(kind, mode, workdir / f"{kind}-{tag}.log") as p:
            yield PeerParty(p)


async def run_one(scn: dict[str, Any], direction: str, workdir: Path) -> Result:
    other = scn.get("other", "node")
    res = Result(scn["peer"], scn["name"], direction, other, scn.get("expect", "pass"))
    start = time.monotonic()
    try:
        with trio.fail_after(float(scn.get("timeout_s", 300))):
            async with AsyncExitStack() as stack:
                peer = await stack.enter_async_context(_party(scn["peer"], scn["mode"], workdir, "a"))
                oth = await stack.enter_async_context(_party(other, scn["mode"], workdir, "b"))
                a, b = (peer, oth) if direction == "peer_dials" else (oth, peer)
                res.ok = await SCENARIOS[scn["kind"]](a, b, scn.get("params", {}), res.figures)
    except Exception as exc:  # a crash is the scenario's result, recorded with its type
        while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        res.error = f"{type(exc).__name__}: {exc}"
    res.seconds = round(time.monotonic() - start, 2)
    return res


def load_scenarios(peer: str | None = None, names: list[str] | None = None) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted(SCENARIO_DIR.glob("*.json"))]
    return [s for s in found if (peer is None or s["peer"] == peer) and (not names or s["name"] in names)]


def _summary(r: Result) -> str:
    f = r.figures
    if r.error:
        return r.error.splitlines()[0][:100]
    parts = []
    if "dial" in f:
        parts.append(f"hs+rtt {f['dial']['handshakePlusOneRTTMillis']:.1f} ms")
    for key in ("dialer_echo", "listener_echo"):
        if key in f:
            parts.append(f"{key.split('_')[0]} echo {f[key]['bytes']} B {f[key]['ms']:.0f} ms")
    for key, label in (("dialer_to_listener", "d->l"), ("listener_to_dialer", "l->d")):
        if key in f:
            parts.append(f"{label} {f[key]['delivered']}/{f[key]['published']} {f[key]['msgs_per_s']}/s")
    for key in ("ping_dialer_ms", "ping_listener_ms"):
        if key in f:
            parts.append(f"{key.split('_')[1]} ping median {sorted(f[key])[len(f[key]) // 2]:.2f} ms")
    for key in ("dialer_stats", "listener_stats"):
        stats = f.get(key, {})
        refused = stats.get("rejected") or stats.get("relay", {}).get("drops")
        if refused:
            parts.append(f"{key.split('_')[0]} refused {refused}")
    return ", ".join(parts)


def print_matrix(results: list[Result]) -> None:
    print(f"\n{'peer':<6} {'scenario':<30} {'direction':<24} {'status':<9} figures")
    for r in results:
        direction = f"{r.peer}->{r.other}" if r.direction == "peer_dials" else f"{r.other}->{r.peer}"
        print(f"{r.peer:<6} {r.scenario:<30} {direction:<24} {r.status:<9} {_summary(r)}")


async def run_all(scenarios: list[dict[str, Any]]) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="w3msg-interop-") as tmp:
        for i, scn in enumerate(scenarios):
            for direction in scn.get("directions", ["peer_dials", "other_dials"]):
                workdir = Path(tmp) / f"{i}-{direction}"
                workdir.mkdir()
                results.append(await run_one(scn, direction, workdir))
    return results


def write_results(results: list[Result], builds: dict[str, float]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"builds_s": builds, "results": [
        {**r.__dict__, "status": r.status} for r in results]}, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", choices=sorted(PEERS), help="only this peer kind")
    ap.add_argument("--scenario", action="append", help="only scenarios with this name (repeatable)")
    args = ap.parse_args(argv)
    scenarios = load_scenarios(args.peer, args.scenario)
    if not scenarios:
        print("no scenario matched", file=sys.stderr)
        return 2
    kinds = sorted({s["peer"] for s in scenarios} | {s.get("other", "node") for s in scenarios} - {"node"})
    try:
        builds = {k: round(build_peer(k), 2) for k in kinds}
    except PeerError as exc:
        print(exc, file=sys.stderr)
        return 3
    results = trio.run(run_all, scenarios)
    write_results(results, builds)
    print_matrix(results)
    print(f"\nresults: {os.path.relpath(RESULTS)}")
    return 0 if all(r.status in ("pass", "observed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
