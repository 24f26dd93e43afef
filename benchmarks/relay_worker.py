"""One relay-benchmark node, run as its own OS process by relay_bench.py.

Control protocol: one JSON object per line on stdin (commands) and on stdout (replies). The first
line the worker writes is {"event": "ready", "addr": "<multiaddr>/p2p/<id>"}. Anything libraries
print goes to stderr, which the orchestrator sends to a log file. EOF on stdin stops the worker, so
a crashed orchestrator never leaves nodes behind.

``--impl ours`` runs a w3msg node (open_node + WakuRelay); ``--impl baseline`` runs stock py-libp2p
GossipSub (baseline_worker.py). Both see the same WakuMessage bytes and report the same figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import trio

from w3msg_libp2p.core.errors import W3MsgError
from w3msg_libp2p.core.message import WakuMessage

TOPIC = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/bench/1/relay/proto"
PAYLOAD_BYTES = 1024
HEADER = struct.Struct(">II")  # round, sequence number: the rest of the payload is padding
LOOKAHEAD = 0.002  # publish messages due within this many seconds in one burst: fewer wake-ups
CHECKPOINT_EVERY = 16  # when behind schedule, still yield this often so writer tasks run

Sink = Callable[[WakuMessage], None]


class Backend(Protocol):
    addr: str

    async def connect(self, addr: str) -> None: ...
    def mesh_size(self) -> int: ...
    def peer_count(self) -> int: ...
    async def publish(self, message: WakuMessage) -> None: ...
    async def deliver_loop(self, sink: Sink) -> None: ...
    def stats(self) -> dict[str, Any]: ...


def bench_message(round_id: int, seq: int) -> WakuMessage:
    """A 1 KiB-payload message; its timestamp is the send time the receivers measure from."""
    header = HEADER.pack(round_id, seq)
    payload = header + b"\x5a" * (PAYLOAD_BYTES - len(header))
    return WakuMessage(payload=payload, content_topic=CONTENT_TOPIC, timestamp=time.time_ns())


# -- our node ----------------------------------------------------------------------------
class OursBackend:
    def __init__(self, node: Any) -> None:
        self.node = node
        self.relay = node.relay
        self.addr = node.listen_addrs()[0]

    async def connect(self, addr: str) -> None:
        await self.node.connect(addr)

    def mesh_size(self) -> int:
        return len(self.relay.mesh_peers(TOPIC))

    def peer_count(self) -> int:
        return len(self.node.connected_peer_ids())

    async def publish(self, message: WakuMessage) -> None:
        await self.relay.publish(TOPIC, message)

    async def deliver_loop(self, sink: Sink) -> None:
        # Drain everything buffered per wake-up: `async for` takes one message per scheduler pass,
        # which lets a burst of deliveries overflow the subscription buffer under load.
        with self.relay.messages(pubsub_topic=TOPIC) as sub:
            while True:
                sink((await sub.receive()).message)
                while True:
                    try:
                        env = sub.receive_nowait()
                    except trio.WouldBlock:
                        break
                    sink(env.message)

    def stats(self) -> dict[str, Any]:
        s = self.relay.statistics()
        keys = ("messages_received", "messages_delivered", "messages_forwarded", "duplicates",
                "queued_bytes", "subscriber_queue_depth")
        out = {k: s[k] for k in keys}
        out["drops"] = s["drops"]
        out["stream_errors"] = dict(self.relay.service.stream_errors)
        return out


@asynccontextmanager
async def ours_backend(data_dir: Path) -> AsyncIterator[Backend]:
    from w3msg_libp2p.node.config import NodeConfig
    from w3msg_libp2p.node.node import open_node

    # the relay alone: the benchmark measures relaying, not archiving or serving light clients
    config = NodeConfig(data_dir=data_dir, listen=("/ip4/127.0.0.1/tcp/0",), rest=None, metrics=None,
                        shards=(0,), store=None, filter=None, lightpush=None, peer_exchange=None)
    async with open_node(config) as node:
        yield OursBackend(node)


# -- the worker ---------------------------------------------------------------------------
@dataclass
class Round:
    round_id: int = -1
    seen: set[int] = field(default_factory=set)
    latencies_us: list[int] = field(default_factory=list)
    duplicates: int = 0
    stale: int = 0  # messages of an earlier round arriving late
    cpu_start: float = 0.0
    wall_start: float = 0.0
    drops_start: dict[str, int] = field(default_factory=dict)
    profiler: cProfile.Profile | None = None
    profile_path: str | None = None


class Worker:
    def __init__(self, backend: Backend, out_fd: int) -> None:
        self.backend = backend
        self.out_fd = out_fd
        self.round = Round()

    def reply(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        while data:
            written = os.write(self.out_fd, data)
            data = data[written:]

    def on_message(self, message: WakuMessage) -> None:
        now = time.time_ns()
        r = self.round
        round_id, seq = HEADER.unpack_from(message.payload)
        if round_id != r.round_id:
            r.stale += 1
        elif seq in r.seen:
            r.duplicates += 1
        else:
            r.seen.add(seq)
            r.latencies_us.append((now - (message.timestamp or 0)) // 1000)

    async def serve(self) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "dial": self.cmd_dial, "mesh": self.cmd_mesh, "start_round": self.cmd_start_round,
            "publish": self.cmd_publish, "count": self.cmd_count, "report": self.cmd_report,
        }
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.backend.deliver_loop, self.on_message)
            self.reply({"event": "ready", "addr": self.backend.addr, "pid": os.getpid()})
            async for cmd in read_commands():
                name = cmd.get("cmd")
                if name == "quit":
                    break
                handler = handlers.get(name or "")
                if handler is None:
                    self.reply({"ok": False, "error": f"unknown command {name!r}"})
                    continue
                try:
                    self.reply({"ok": True, **await handler(cmd)})
                except (W3MsgError, OSError, trio.TooSlowError) as exc:
                    self.reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            nursery.cancel_scope.cancel()

    async def cmd_dial(self, cmd: dict[str, Any]) -> dict[str, Any]:
        for addr in cmd["addrs"]:
            await self.backend.connect(addr)
        return {"peers": self.backend.peer_count()}

    async def cmd_mesh(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {"mesh": self.backend.mesh_size(), "peers": self.backend.peer_count()}

    async def cmd_start_round(self, cmd: dict[str, Any]) -> dict[str, Any]:
        r = Round(round_id=cmd["round"], cpu_start=time.process_time(), wall_start=time.perf_counter(),
                  drops_start=dict(self.backend.stats().get("drops", {})))
        if cmd.get("profile"):
            r.profile_path = cmd["profile"]
            r.profiler = cProfile.Profile(time.process_time)  # CPU time: idle epoll waits cost nothing
            r.profiler.enable()
        self.round = r
        return {}

    async def cmd_publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Publish ``rate`` msg/s for ``duration`` s, paced to a schedule (bursts within LOOKAHEAD)."""
        rate, round_id = float(cmd["rate"]), self.round.round_id
        total = max(1, round(rate * float(cmd["duration"])))
        errors: dict[str, int] = {}
        start = time.perf_counter()
        first = last = start
        seq = 0
        while seq < total:
            now = time.perf_counter()
            due = start + seq / rate
            if due > now + LOOKAHEAD:
                await trio.sleep(due - now)
                continue
            if seq % CHECKPOINT_EVERY == 0:
                await trio.lowlevel.checkpoint()
            try:
                await self.backend.publish(bench_message(round_id, seq))
            except Exception as exc:  # counted and reported: a failed publish is a lost message
                key = type(exc).__name__
                errors[key] = errors.get(key, 0) + 1
            last = time.perf_counter()
            if seq == 0:
                first = last
            seq += 1
        span = last - first
        achieved = (total - 1) / span if total > 1 and span > 0 else rate
        return {"sent": total, "achieved_rate": achieved, "publish_s": last - start, "errors": errors}

    async def cmd_count(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return {"received": len(self.round.seen)}

    async def cmd_report(self, cmd: dict[str, Any]) -> dict[str, Any]:
        r = self.round
        cpu = time.process_time() - r.cpu_start
        if r.profiler is not None and r.profile_path:
            r.profiler.disable()
            write_profile(r.profiler, r.profile_path)
        stats = self.backend.stats()
        drops = {k: n - r.drops_start.get(k, 0) for k, n in stats.pop("drops", {}).items()}
        return {
            "received": len(r.seen), "duplicates": r.duplicates, "stale": r.stale,
            "latencies_us": r.latencies_us, "cpu_s": cpu, "wall_s": time.perf_counter() - r.wall_start,
            "drops": {k: n for k, n in drops.items() if n}, "stats": stats,
        }


def write_profile(profiler: cProfile.Profile, path: str) -> None:
    profiler.dump_stats(path)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    for order, only in (("tottime", ""), ("cumulative", ""), ("cumulative", "w3msg_libp2p")):
        text.write(f"==== top 15 by {order} {'in ' + only if only else ''}(CPU time) ====\n")
        stats.sort_stats(order)
        if only:
            stats.print_stats(only, 15)
        else:
            stats.print_stats(15)
    Path(path).with_suffix(".txt").write_text(text.getvalue())


async def read_commands() -> AsyncIterator[dict[str, Any]]:
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buf = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return  # the orchestrator went away
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


async def run(impl: str, data_dir: Path, out_fd: int) -> None:
    if impl == "ours":
        factory = ours_backend
    else:
        from baseline_worker import baseline_backend  # sibling script (sys.path[0] is this folder)

        factory = baseline_backend
    async with factory(data_dir) as backend:
        await Worker(backend, out_fd).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=("ours", "baseline"), required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    # Keep stdout for the control protocol only: whatever a library prints goes to stderr.
    out_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    trio.run(run, args.impl, args.data_dir, out_fd)


if __name__ == "__main__":
    main()
