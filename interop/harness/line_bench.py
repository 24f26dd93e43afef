"""Lines of relay nodes for the side-by-side benchmark (kind_side_by_side.py), measured the same way.

Ours: N relay_worker.py processes of benchmarks/relay_bench.py (one w3msg node per OS process, relay
only). Theirs: N go-libp2p-pubsub peers (interop/peers/go ``--mode waku``: StrictNoSign, sha256 ids,
/vac/waku/relay/2.0.0), one process each too. Both are connected in a line 0-1-...-N-1, subscribed to
/waku/2/rs/1/0, publish at the head and count at the tail. Messages are the same bytes on both sides
(relay_worker.bench_message: a 1 KiB payload starting with round and sequence number, the send time
as WakuMessage timestamp); every node records its own deliveries and latencies in process, so the
harness only polls counts and never handles per-message events.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio

from interop.harness.peers import ROOT, peer_process
from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess

if str(ROOT) not in sys.path:  # benchmarks/ is a folder of scripts, importable from the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import relay_bench  # WorkerProc, stop_workers, gather, percentile
from benchmarks.relay_worker import PAYLOAD_BYTES, TOPIC

KEEP_UP_S = relay_bench.KEEP_UP_S  # a step is kept up with when the tail has everything this soon
RATE_TOLERANCE = relay_bench.RATE_TOLERANCE  # the head must publish at >= this share of the rate
DELIVERED_MIN = 0.99  # a step is sustained with at least this share delivered at the tail
STARTUP_TIMEOUT = 60.0
MESH_TIMEOUT = 20.0
POLL_S = 0.01  # the drain poll: its period biases the throughput figure by at most POLL_S / step_s


class Line(Protocol):
    """N relay nodes in a line; head = node 0, tail = node N-1."""

    exit_codes: list[int | None]  # filled once the line is stopped
    mesh_sizes: list[int]

    async def start_round(self, round_id: int) -> None: ...
    async def publish(self, round_id: int, rate: int, count: int) -> dict[str, Any]: ...
    async def tail_count(self) -> int: ...
    async def reports(self) -> list[dict[str, Any]]: ...


async def _each(items: list[Any], fn: Callable[[Any], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``fn`` on every item concurrently, results in order."""
    out: list[dict[str, Any]] = [{} for _ in items]

    async def one(i: int) -> None:
        out[i] = await fn(items[i])

    async with trio.open_nursery() as nursery:
        for i in range(len(items)):
            nursery.start_soon(one, i)
    return out


# -- ours: relay_worker.py processes ------------------------------------------------------------------
@dataclass
class OurLine:
    workers: list[relay_bench.WorkerProc]
    exit_codes: list[int | None] = field(default_factory=list)
    mesh_sizes: list[int] = field(default_factory=list)

    async def start_round(self, round_id: int) -> None:
        await relay_bench.gather(self.workers, {"cmd": "start_round", "round": round_id})

    async def publish(self, round_id: int, rate: int, count: int) -> dict[str, Any]:
        cmd = {"cmd": "publish", "rate": rate, "duration": count / rate}  # the worker sends round(rate * duration)
        return await self.workers[0].request(cmd, timeout=count / rate * 10 + 30)

    async def tail_count(self) -> int:
        return int((await self.workers[-1].request({"cmd": "count"}))["received"])

    async def reports(self) -> list[dict[str, Any]]:
        return await relay_bench.gather(self.workers, {"cmd": "report"})


async def _start_workers(n: int, workdir: Path) -> list[relay_bench.WorkerProc]:
    """relay_bench.start_workers for ``n`` nodes of ours (it always starts its own NODES)."""
    workers: list[relay_bench.WorkerProc] = []
    try:
        for i in range(n):
            log_path = workdir / f"ours-{i}.log"
            with open(log_path, "wb") as err:
                proc = await trio.lowlevel.open_process(
                    [sys.executable, str(relay_bench.WORKER), "--impl", "ours",
                     "--data-dir", str(workdir / f"ours-{i}")],
                    stdin=-1, stdout=-1, stderr=err, cwd=ROOT)
            workers.append(relay_bench.WorkerProc(i, proc, log_path))
        with trio.fail_after(STARTUP_TIMEOUT):
            for w in workers:
                w.addr = (await w.read_line())["addr"]
    except BaseException:
        await relay_bench.stop_workers(workers)
        raise
    return workers


@asynccontextmanager
async def our_line(n: int, workdir: Path) -> AsyncIterator[OurLine]:
    workers = await _start_workers(n, workdir)
    line = OurLine(workers)
    try:
        for a, b in itertools.pairwise(workers):
            await a.request({"cmd": "dial", "addrs": [b.addr]})
        line.mesh_sizes = await _wait_meshes(lambda: _our_mesh_sizes(workers), _line_mesh(n))
        yield line
    except BaseException:
        for w in workers:
            print(f"ours worker {w.index} log tail ({w.log_path}):\n{w.log_tail()}", file=sys.stderr)
        raise
    finally:
        await relay_bench.stop_workers(workers)
        line.exit_codes = [w.proc.returncode for w in workers]


async def _our_mesh_sizes(workers: list[relay_bench.WorkerProc]) -> list[int]:
    return [int(r["mesh"]) for r in await relay_bench.gather(workers, {"cmd": "mesh"})]


# -- theirs: go-libp2p-pubsub peers ------------------------------------------------------------------
@dataclass
class PeerLine:
    peers: list[PeerProcess]
    size: int
    exit_codes: list[int | None] = field(default_factory=list)
    mesh_sizes: list[int] = field(default_factory=list)

    async def start_round(self, round_id: int) -> None:
        await _each(self.peers, lambda p: p.command("bench_start", round=round_id))

    async def publish(self, round_id: int, rate: int, count: int) -> dict[str, Any]:
        seconds = count / rate * 10 + 30
        return await self.peers[0].command("bench_publish", timeout=seconds, topic=TOPIC, count=count, rate=rate,
                                           size=self.size, timeout_ms=int(seconds * 1000))

    async def tail_count(self) -> int:
        return int((await self.peers[-1].command("bench_count"))["received"])

    async def reports(self) -> list[dict[str, Any]]:
        return await _each(self.peers, lambda p: p.command("bench_report"))


@asynccontextmanager
async def peer_line(kind: str, n: int, size: int, workdir: Path,
                    extra: tuple[str, ...] = ()) -> AsyncIterator[PeerLine]:
    """``n`` peers of ``kind`` (a PEERS kind speaking the bench_* commands) in Waku mode, in a line;
    ``extra``: more argv for each (the scenario's ``peer_args``)."""
    line = PeerLine([], size)
    try:
        async with AsyncExitStack() as stack:
            for i in range(n):
                line.peers.append(await stack.enter_async_context(
                    peer_process(kind, "waku", workdir / f"{kind}-{i}.log", extra)))
            for p in line.peers:
                await p.command("subscribe", topic=TOPIC, quiet=True)
            for a, b in itertools.pairwise(line.peers):
                await a.command("dial", multiaddr=b.multiaddr("tcp"))
            line.mesh_sizes = await _wait_meshes(lambda: _peer_mesh_sizes(line.peers), _line_mesh(n))
            yield line
    finally:
        line.exit_codes = [p.process.returncode for p in line.peers]


async def _peer_mesh_sizes(peers: list[PeerProcess]) -> list[int]:
    stats = await _each(peers, lambda p: p.command("stats"))
    return [len(s["mesh"].get(TOPIC) or []) for s in stats]


# -- both ---------------------------------------------------------------------------------------------
def _line_mesh(n: int) -> list[int]:
    return [1] + [2] * (n - 2) + [1] if n > 1 else [0]


async def _wait_meshes(sizes: Callable[[], Awaitable[list[int]]], want: list[int]) -> list[int]:
    """Poll until every node has its line neighbours in its mesh; an incomplete mesh is an error."""
    deadline = time.monotonic() + MESH_TIMEOUT
    while True:
        got = await sizes()
        if all(g >= w for g, w in zip(got, want, strict=True)):
            return got
        if time.monotonic() > deadline:
            raise PeerError(f"line meshes incomplete after {MESH_TIMEOUT} s: {got} (want {want})")
        await trio.sleep(0.2)


def check_size(size: int) -> None:
    if size != PAYLOAD_BYTES:  # relay_worker.py has no size option (a benchmarks/ change)
        raise ConfigError(f"size must be {PAYLOAD_BYTES}: our relay worker publishes {PAYLOAD_BYTES}-byte payloads")


async def _drain(line: Line, sent: int, timeout: float, stall: float) -> float:
    """Seconds after publishing until the tail had every message, or (when some never arrive) until
    its last delivery: lost messages must not stretch the time the delivered ones took."""
    start = last_progress = time.monotonic()
    last = -1
    while True:
        got = await line.tail_count()
        now = time.monotonic()
        if got >= sent:
            return now - start
        if got != last:
            last, last_progress = got, now
        if now - last_progress > stall or now - start > timeout:
            return last_progress - start
        await trio.sleep(POLL_S)


async def measure_step(line: Line, round_id: int, rate: int, step_s: float) -> dict[str, Any]:
    """Publish ``rate`` msg/s for ``step_s`` s at the head; delivery, throughput and latency at the tail."""
    await line.start_round(round_id)
    count = max(1, round(rate * step_s))
    pub = await line.publish(round_id, rate, count)
    drain_s = await _drain(line, int(pub["sent"]), timeout=step_s + 3, stall=1.5)
    return summarize(rate, pub, drain_s, await line.reports())


def summarize(rate: int, pub: dict[str, Any], drain_s: float, reports: list[dict[str, Any]]) -> dict[str, Any]:
    sent, tail, relays = int(pub["sent"]), reports[-1], reports[1:-1]
    latencies = sorted(int(x) for x in tail["latencies_us"])
    delivered = tail["received"] / sent
    elapsed = float(pub["publish_s"]) + drain_s
    rate_ok = float(pub["achieved_rate"]) >= RATE_TOLERANCE * rate
    cpu = [float(r["cpu_s"]) * 1000 / sent for r in relays] or [float(tail["cpu_s"]) * 1000 / sent]
    drops: dict[str, Any] = {}
    for i, r in enumerate(reports):
        if r.get("drops") or r.get("dropped_rpcs"):
            drops[str(i)] = r.get("drops") or {"dropped_rpcs": r["dropped_rpcs"]}
    return {
        "rate": rate, "sent": sent, "delivered": tail["received"], "delivered_ratio": round(delivered, 4),
        "sustained": delivered >= DELIVERED_MIN and rate_ok and not pub["errors"],
        "msgs_per_s": round(tail["received"] / elapsed, 1) if elapsed > 0 else None,
        "publish_rate": round(float(pub["achieved_rate"]), 1), "rate_ok": rate_ok,
        "publish_errors": pub["errors"], "drain_s": round(drain_s, 2), "kept_up": drain_s <= KEEP_UP_S,
        "p50_ms": relay_bench.percentile(latencies, 0.50), "p99_ms": relay_bench.percentile(latencies, 0.99),
        "max_ms": relay_bench.percentile(latencies, 1.0),
        "relay_cpu_ms_per_msg": round(sum(cpu) / len(cpu), 4),
        "tail_duplicates": tail["duplicates"], "tail_stale": tail["stale"], "drops": drops,
        "dropped_total": sum(int(n) for d in drops.values() for n in d.values()),
    }


async def measure_line(line: Line, rates: list[int], step_s: float, settle_s: float,
                       log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every step of ``rates`` in order (ascending: a backlog only spills into harder steps)."""
    await trio.sleep(settle_s)  # identify and the first heartbeats still run right after the meshes form
    steps = []
    for i, rate in enumerate(rates):
        step = await measure_step(line, i + 1, rate, step_s)
        log(f"{rate:>6} msg/s: delivered {step['delivered_ratio']:.2%}, {step['msgs_per_s']} msg/s, "
            f"p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms")
        steps.append(step)
    return steps
