"""Relay speed benchmark: our relay against stock py-libp2p GossipSub, measured in the same run.

Prints ONE JSON line on stdout with the figures (progress goes to stderr). Method and how to read
the output: benchmarks/README.md. Usage: ``make bench-relay [ARGS="--quick"]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
WORKER = HERE / "relay_worker.py"
NODES = 6  # the line uses nodes 0..4; node 5 joins for the full mesh
LINE_NODES = 5
LATENCY_RATE = 500  # the latency rate
REFERENCE_RATE = 50  # a rate both implementations can sustain: like-for-like latency and CPU
SCHEDULES = {
    "ours": [250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000],
    "baseline": [10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500],
}
QUICK_SCHEDULES = {"ours": [250, 500], "baseline": [10, 25]}
MANDATORY = {"ours": {LATENCY_RATE, REFERENCE_RATE}, "baseline": {REFERENCE_RATE}}
LOW_LATENCY_MS = 100  # also reported: the highest rate delivered in full with p99 under this (no backlog)
RATE_TOLERANCE = 0.95
# A rate counts only if the relays keep up with it: when publishing stops, every node must have every
# message within this many seconds. A long drain would credit a 3 s round with up to ~3x the real
# throughput (the backlog is delivered after the publisher stops).
KEEP_UP_S = 1.0  # the publisher must reach this share of the requested rate
STARTUP_TIMEOUT = 90.0
MESH_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0


def log(text: str) -> None:
    print(f"[bench-relay {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Settings:
    duration: float
    drain_timeout: float
    stall_timeout: float
    settle: float
    retries: int
    schedules: dict[str, list[int]]
    impls: list[str]
    profile_node: int | None
    profile_rate: int
    profile_dir: Path


# -- worker processes ----------------------------------------------------------------------
@dataclass
class WorkerProc:
    index: int
    proc: trio.Process
    log_path: Path
    addr: str = ""
    buf: bytes = b""
    lock: trio.Lock = field(default_factory=trio.Lock)

    async def read_line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while b"\n" not in self.buf:
            chunk = await self.proc.stdout.receive_some(1 << 20)
            if not chunk:
                raise RuntimeError(f"worker {self.index} exited; see {self.log_path}:\n{self.log_tail()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    async def request(self, cmd: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        assert self.proc.stdin is not None
        async with self.lock:
            with trio.fail_after(timeout):
                await self.proc.stdin.send_all((json.dumps(cmd) + "\n").encode())
                reply = await self.read_line()
        if not reply.get("ok"):
            raise RuntimeError(f"worker {self.index} failed {cmd['cmd']}: {reply.get('error')}")
        return reply

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def start_workers(impl: str, tmp: Path) -> list[WorkerProc]:
    workers: list[WorkerProc] = []
    for i in range(NODES):
        data_dir = tmp / f"{impl}-{i}"
        log_path = tmp / f"{impl}-{i}.log"
        with open(log_path, "wb") as err:
            proc = await trio.lowlevel.open_process(
                [sys.executable, str(WORKER), "--impl", impl, "--data-dir", str(data_dir)],
                stdin=-1, stdout=-1, stderr=err, cwd=HERE.parent,
            )
        workers.append(WorkerProc(i, proc, log_path))
    with trio.fail_after(STARTUP_TIMEOUT):
        for w in workers:
            ready = await w.read_line()
            w.addr = ready["addr"]
    return workers


async def stop_workers(workers: list[WorkerProc]) -> None:
    """Ask each worker to quit, then kill whatever is left. Safe to call on errors and Ctrl-C."""
    with trio.CancelScope(shield=True):
        for w in workers:
            if w.proc.returncode is None and w.proc.stdin is not None:
                with trio.move_on_after(1):
                    try:
                        await w.proc.stdin.send_all(b'{"cmd": "quit"}\n')
                        await w.proc.stdin.aclose()
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
        for w in workers:
            with trio.move_on_after(5):
                await w.proc.wait()
            if w.proc.returncode is None:
                w.proc.kill()
                await w.proc.wait()


async def gather(workers: list[WorkerProc], cmd: dict[str, Any]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = [{} for _ in workers]

    async def one(i: int, w: WorkerProc) -> None:
        replies[i] = await w.request(cmd)

    async with trio.open_nursery() as nursery:
        for i, w in enumerate(workers):
            nursery.start_soon(one, i, w)
    return replies


# -- topology --------------------------------------------------------------------------------
def line_edges() -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(LINE_NODES - 1)]


def mesh_edges() -> list[tuple[int, int]]:
    return [(i, j) for i in range(NODES) for j in range(i + 1, NODES)]


async def connect(
    workers: list[WorkerProc], edges: list[tuple[int, int]], done: set[tuple[int, int]],
) -> None:
    for a, b in edges:
        if (a, b) not in done:
            await workers[a].request({"cmd": "dial", "addrs": [workers[b].addr]})
            done.add((a, b))


async def wait_for_meshes(workers: list[WorkerProc], want: list[int]) -> list[int]:
    """Poll until node i has at least want[i] mesh peers; returns the sizes seen last."""
    deadline = time.monotonic() + MESH_TIMEOUT
    while True:
        sizes = [r["mesh"] for r in await gather(workers, {"cmd": "mesh"})]
        if all(s >= w for s, w in zip(sizes, want, strict=True)):
            return sizes
        if time.monotonic() > deadline:
            log(f"meshes still incomplete after {MESH_TIMEOUT} s: {sizes} (want {want}); measuring anyway")
            return sizes
        await trio.sleep(0.2)


# -- one round -----------------------------------------------------------------------------
def percentile(sorted_values: list[int], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1] / 1000.0  # us -> ms


async def drain(receivers: list[WorkerProc], sent: int, settings: Settings) -> float:
    """Wait until every receiver has every message, progress stalls, or the drain timeout passes."""
    start = time.monotonic()
    last_total, last_progress = -1, start
    while True:
        counts = [r["received"] for r in await gather(receivers, {"cmd": "count"})]
        now = time.monotonic()
        if all(c >= sent for c in counts):
            return now - start
        total = sum(counts)
        if total != last_total:
            last_total, last_progress = total, now
        if now - last_progress > settings.stall_timeout or now - start > settings.drain_timeout:
            return now - start
        await trio.sleep(0.1)


async def run_round(
    workers: list[WorkerProc], round_id: int, rate: int, topology: str, settings: Settings,
    profile: str | None,
) -> dict[str, Any]:
    members = workers[:LINE_NODES] if topology == "line" else workers
    receivers = members[1:]
    relays = members[1:-1] if topology == "line" else members[1:]
    start_cmd: dict[str, Any] = {"cmd": "start_round", "round": round_id}
    await gather(members, start_cmd)
    if profile is not None:  # restart the profiled node's round with its profiler on
        await workers[settings.profile_node or 0].request({**start_cmd, "profile": profile})
    pub = await workers[0].request({"cmd": "publish", "rate": rate, "duration": settings.duration},
                                   timeout=settings.duration * 10 + 30)
    sent = pub["sent"]
    drain_s = await drain(receivers, sent, settings)
    reports = await gather(members, {"cmd": "report"})
    return summarize(rate, topology, pub, drain_s, reports, members, receivers, relays)


def summarize(
    rate: int, topology: str, pub: dict[str, Any], drain_s: float, reports: list[dict[str, Any]],
    members: list[WorkerProc], receivers: list[WorkerProc], relays: list[WorkerProc],
) -> dict[str, Any]:
    sent = pub["sent"]
    by_index = {w.index: rep for w, rep in zip(members, reports, strict=True)}
    received = [by_index[w.index]["received"] for w in receivers]
    latencies = sorted(x for w in receivers for x in by_index[w.index]["latencies_us"])
    relay_cpu = [by_index[w.index]["cpu_s"] * 1000 / sent for w in relays]
    delivered_all = all(r >= sent for r in received) and not pub["errors"]
    rate_ok = pub["achieved_rate"] >= RATE_TOLERANCE * rate
    kept_up = delivered_all and drain_s <= KEEP_UP_S
    drops = {str(i): rep["drops"] for i, rep in by_index.items() if rep["drops"]}
    return {
        "rate": rate,
        "topology": topology,
        "passed": delivered_all and rate_ok and kept_up,
        "delivered_all": delivered_all,
        "rate_ok": rate_ok,
        "kept_up": kept_up,
        "sent": sent,
        "achieved_rate": round(pub["achieved_rate"], 1),
        "publish_errors": pub["errors"],
        "delivery_ratio_min": round(min(received) / sent, 4),
        "delivery_ratio_mean": round(sum(received) / (sent * len(received)), 4),
        "received": received,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": percentile(latencies, 1.0),
        "cpu_ms_per_msg_relay": round(sum(relay_cpu) / len(relay_cpu), 4),
        "cpu_ms_per_msg_publisher": round(by_index[0]["cpu_s"] * 1000 / sent, 4),
        "drain_s": round(drain_s, 2),
        "drops": drops,
        "app_duplicates": sum(by_index[w.index]["duplicates"] for w in receivers),
        "stale": sum(by_index[w.index]["stale"] for w in receivers),
    }


# -- a topology's schedule ------------------------------------------------------------------
async def run_schedule(
    workers: list[WorkerProc], impl: str, topology: str, settings: Settings, next_round: list[int],
) -> list[dict[str, Any]]:
    """Ascending rates; the search stops after the first failing rate (retried ``retries`` times),
    but rates needed for latency/CPU figures (line only) are still measured."""
    schedule = settings.schedules[impl]
    mandatory = MANDATORY[impl] if topology == "line" else set()
    rates = sorted(set(schedule) | mandatory)
    results: list[dict[str, Any]] = []
    search_over = False
    for rate in rates:
        in_search = rate in schedule
        if search_over and rate not in mandatory:
            continue
        for attempt in range(settings.retries + 1):
            profile = None
            if (impl == "ours" and topology == "line" and settings.profile_node is not None
                    and rate == settings.profile_rate):
                profile = str(settings.profile_dir / f"relay_profile_node{settings.profile_node}_{rate}.prof")
            next_round[0] += 1
            result = await run_round(workers, next_round[0], rate, topology, settings, profile)
            result["attempt"] = attempt + 1
            results.append(result)
            log(f"{impl} {topology} {rate:>5} msg/s: {'PASS' if result['passed'] else 'fail'} "
                f"delivered {result['delivery_ratio_min']:.2%} (min), achieved {result['achieved_rate']}/s, "
                f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
                f"relay cpu {result['cpu_ms_per_msg_relay']} ms/msg")
            if result["passed"] or not in_search or search_over:
                break
        if in_search and not results[-1]["passed"]:
            search_over = True
    return results


def max_passing(results: list[dict[str, Any]], schedule: list[int], p99_limit: float | None = None) -> int:
    """The highest schedule rate that passed (the search stops at the first failure, so every lower
    one passed too); with ``p99_limit``, the highest that also had p99 latency under that many ms."""
    best = 0
    for rate in sorted(schedule):
        passed = [r for r in results if r["rate"] == rate and r["passed"]]
        if not passed:
            break
        if p99_limit is None or any((r["p99_ms"] or 0) <= p99_limit for r in passed):
            best = rate
    return best


async def bench_impl(impl: str, settings: Settings, tmp: Path) -> dict[str, Any]:
    log(f"{impl}: starting {NODES} worker processes")
    workers: list[WorkerProc] = []
    try:
        workers = await start_workers(impl, tmp)
        next_round = [0]
        done: set[tuple[int, int]] = set()
        out: dict[str, Any] = {"worker_pids": [w.proc.pid for w in workers]}
        for topology in ("line", "mesh"):
            if topology == "line":
                await connect(workers, line_edges(), done)
                members = workers[:LINE_NODES]
                want = [1] + [2] * (LINE_NODES - 2) + [1]
            else:
                await connect(workers, mesh_edges(), done)
                members = workers
                want = [NODES - 1] * NODES
            out[f"{topology}_mesh_sizes"] = await wait_for_meshes(members, want)
            # Identify, peer records and the first heartbeats still run right after the meshes form.
            await trio.sleep(settings.settle)
            out[topology] = await run_schedule(workers, impl, topology, settings, next_round)
            out[f"{topology}_max_rate"] = max_passing(out[topology], settings.schedules[impl])
            out[f"{topology}_max_rate_p99_le_{LOW_LATENCY_MS}ms"] = max_passing(
                out[topology], settings.schedules[impl], LOW_LATENCY_MS)
        return out
    except BaseException:
        for w in workers:
            log(f"{impl} worker {w.index} log tail ({w.log_path}):\n{w.log_tail()}")
        raise
    finally:
        await stop_workers(workers)


# -- the report ----------------------------------------------------------------------------
def pick(results: list[dict[str, Any]], rate: int, key: str) -> Any:
    """``key`` from the best attempt at ``rate`` (a passing one if any)."""
    rounds = [r for r in results if r["rate"] == rate]
    if not rounds:
        return None
    best = next((r for r in rounds if r["passed"]), rounds[-1])
    return best[key]


def headline(ours: dict[str, Any] | None, base: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "relay"}
    o_line = ours["line"] if ours else []
    b_line = base["line"] if base else []
    out["line_max_rate"] = ours["line_max_rate"] if ours else None
    out["mesh_max_rate"] = ours["mesh_max_rate"] if ours else None
    for impl, res in (("", ours), ("baseline_", base)):
        for topo in ("line", "mesh"):
            key = f"{topo}_max_rate_p99_le_{LOW_LATENCY_MS}ms"
            out[impl + key] = res[key] if res else None
    out["line_max_rate_capped"] = bool(ours) and out["line_max_rate"] == max(settings.schedules["ours"])
    out["p50_ms_at_500"] = pick(o_line, LATENCY_RATE, "p50_ms")
    out["p99_ms_at_500"] = pick(o_line, LATENCY_RATE, "p99_ms")
    out["delivery_ratio_at_500"] = pick(o_line, LATENCY_RATE, "delivery_ratio_min")
    out["cpu_ms_per_msg"] = pick(o_line, LATENCY_RATE, "cpu_ms_per_msg_relay")
    out["cpu_ms_per_msg_at_1000"] = pick(o_line, 1000, "cpu_ms_per_msg_relay")
    out["mesh_p99_ms_at_500"] = pick(ours["mesh"], LATENCY_RATE, "p99_ms") if ours else None
    out["p50_ms_at_50"] = pick(o_line, REFERENCE_RATE, "p50_ms")
    out["p99_ms_at_50"] = pick(o_line, REFERENCE_RATE, "p99_ms")
    out["cpu_ms_per_msg_at_50"] = pick(o_line, REFERENCE_RATE, "cpu_ms_per_msg_relay")
    out["baseline_line_max_rate"] = base["line_max_rate"] if base else None
    out["baseline_mesh_max_rate"] = base["mesh_max_rate"] if base else None
    out["baseline_p50_ms_at_50"] = pick(b_line, REFERENCE_RATE, "p50_ms")
    out["baseline_p99_ms_at_50"] = pick(b_line, REFERENCE_RATE, "p99_ms")
    out["baseline_delivery_ratio_at_50"] = pick(b_line, REFERENCE_RATE, "delivery_ratio_min")
    out["baseline_cpu_ms_per_msg_at_50"] = pick(b_line, REFERENCE_RATE, "cpu_ms_per_msg_relay")
    ratio = None
    if ours and base and base["line_max_rate"]:
        ratio = round(ours["line_max_rate"] / base["line_max_rate"], 2)
    out["ratio"] = ratio
    out["mesh_ratio"] = (round(ours["mesh_max_rate"] / base["mesh_max_rate"], 2)
                         if ours and base and base["mesh_max_rate"] else None)
    out["targets_met"] = targets(out, ours is not None, base is not None)
    return out


def targets(out: dict[str, Any], have_ours: bool, have_base: bool) -> dict[str, bool | None]:
    def check(value: Any, ok: bool) -> bool | None:
        return None if value is None else ok

    p99, cpu, ratio = out["p99_ms_at_500"], out["cpu_ms_per_msg"], out["ratio"]
    return {
        "line_rate_ge_1000": check(out["line_max_rate"], have_ours and (out["line_max_rate"] or 0) >= 1000),
        "p99_le_50ms_at_500": check(p99, p99 is not None and p99 <= 50 and out["delivery_ratio_at_500"] == 1),
        "cpu_le_0_5ms_per_msg": check(cpu, cpu is not None and cpu <= 0.5),
        "ratio_ge_10x": check(ratio if have_base else None, ratio is not None and ratio >= 10),
    }


async def main_async(settings: Settings) -> dict[str, Any]:
    started = time.monotonic()
    load = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="w3msg-bench-") as tmp:
        for impl in settings.impls:
            results[impl] = await bench_impl(impl, settings, Path(tmp))
    report = headline(results.get("ours"), results.get("baseline"), settings)
    report["config"] = {
        "payload_bytes": 1024, "line_nodes": LINE_NODES, "mesh_nodes": NODES, "duration_s": settings.duration,
        "schedules": {i: settings.schedules[i] for i in settings.impls}, "retries": settings.retries,
        "cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load],
        "python": sys.version.split()[0], **code_version(),
    }
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    for impl, res in results.items():
        report[impl] = res
    return report


def code_version() -> dict[str, Any]:
    """Which relay code was measured: the commit, and whether w3msg_libp2p/ had local changes."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--", "w3msg_libp2p")
    dirty = None if status is None else bool(status)
    return {"commit": git("rev-parse", "--short", "HEAD"), "w3msg_tree_dirty": dirty}


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description="Relay speed benchmark (ours vs stock py-libp2p GossipSub).")
    p.add_argument("--quick", action="store_true", help="tiny schedule (2 rates, 1 s each) for smoke tests")
    p.add_argument("--only", choices=("ours", "baseline"), help="measure one implementation only")
    p.add_argument("--duration", type=float, help="seconds of publishing per rate (default 3, quick 1)")
    p.add_argument("--rates", help="comma-separated rates replacing our schedule")
    p.add_argument("--baseline-rates", help="comma-separated rates replacing the baseline schedule")
    p.add_argument("--retries", type=int, default=1, help="re-runs of a failing rate before the search stops")
    p.add_argument("--profile-node", type=int, help="cProfile this node of OURS (1..3 relay in the line)")
    p.add_argument("--profile-rate", type=int, default=1000, help="line rate at which to profile")
    p.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()))
    a = p.parse_args(argv)
    schedules = {k: list(v) for k, v in (QUICK_SCHEDULES if a.quick else SCHEDULES).items()}
    if a.rates:
        schedules["ours"] = sorted(int(x) for x in a.rates.split(","))
    if a.baseline_rates:
        schedules["baseline"] = sorted(int(x) for x in a.baseline_rates.split(","))
    if a.profile_node is not None and not 0 <= a.profile_node < LINE_NODES:
        p.error(f"--profile-node must be 0..{LINE_NODES - 1}")
    duration = a.duration or (1.0 if a.quick else 3.0)
    return Settings(
        duration=duration,
        drain_timeout=max(5.0, duration * 2),
        stall_timeout=2.0,
        settle=0.5 if a.quick else 2.0,
        retries=0 if a.quick else a.retries,
        schedules=schedules,
        impls=[a.only] if a.only else ["ours", "baseline"],
        profile_node=a.profile_node,
        profile_rate=a.profile_rate,
        profile_dir=a.profile_dir,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    report = trio.run(main_async, settings)
    print(json.dumps(report, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
