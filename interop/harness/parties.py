"""The two sides a scenario runs: a peer process of another implementation (PeerParty) or our node
(NodeParty), both with the same async methods so a scenario does not care which is which."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from w3msg_libp2p.protocols.relay.pubsub import Gossipsub
from w3msg_libp2p.protocols.relay.waku import WakuRelay
from w3msg_libp2p.testing.peer_process import PeerError, PeerProcess

ECHO = TProtocol("/w3msg/echo/1.0.0")
PING = TProtocol("/ipfs/ping/1.0.0")
CONTENT_TOPIC = "/interop/1/w3msg/proto"
SERVICES_OFF = ("rest", "store", "filter", "lightpush", "peer_exchange")


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

    def address(self, transport: str = "tcp") -> str:
        """The peer's listen address for ``transport`` (tcp | ws)."""
        return self.peer.multiaddr(transport)

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
        self._received: set[str] = set()
        node.host.set_stream_handler(ECHO, _serve_echo)

    def address(self, transport: str = "tcp") -> str:
        """Our listen address for ``transport`` (tcp | ws)."""
        for addr in self.node.listen_addrs():
            if ("/ws/" in addr) == (transport == "ws"):
                return addr
        raise PeerError(f"our node has no {transport} address: {self.node.listen_addrs()}")

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
        self._join(topic)
        await self.nursery.start(self._collect, topic)

    async def _collect(self, topic: str, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with self._subscription(topic) as sub:
            task_status.started()
            async for delivered in sub:
                self._received.add(_sha(self._data_of(delivered)))

    async def wait_mesh(self, topic: str, peer_id: str, timeout: float) -> None:
        with trio.move_on_after(timeout):
            while peer_id not in self._mesh(topic):
                await trio.sleep(0.02)
            return
        raise PeerError(f"{peer_id} not in our mesh of {topic} within {timeout} s")

    async def publish(self, topic: str, count: int, size: int, interval_us: int) -> tuple[list[str], list[str]]:
        sent, errors = [], []
        for _ in range(count):
            try:
                sent.append(_sha(await self._publish_one(topic, size)))
            except Exception as exc:  # every failure is counted and reported
                errors.append(f"{type(exc).__name__}: {exc}")
            await trio.sleep(interval_us / 1e6)
        return sent, errors

    # -- what differs between Waku relay (here) and plain gossipsub (NodePubsubParty) --------
    @property
    def _relay(self) -> WakuRelay:
        assert self.node.relay is not None
        return self.node.relay

    def _join(self, topic: str) -> None:
        self._relay.subscribe(topic)

    def _subscription(self, topic: str) -> Any:
        return self._relay.messages(pubsub_topic=topic, buffer=100_000)

    def _data_of(self, delivered: Any) -> bytes:
        return encode_message(delivered.message)

    def _mesh(self, topic: str) -> list[str]:
        return self._relay.mesh_peers(topic)

    async def _publish_one(self, topic: str, size: int) -> bytes:
        """Publish one message with ``size`` random payload bytes; returns the pubsub data sent."""
        msg = WakuMessage(payload=secrets.token_bytes(size), content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
        await self._relay.publish(topic, msg)
        return encode_message(msg)

    def received(self) -> set[str]:
        return set(self._received)

    async def stats(self) -> dict[str, Any]:
        s = self._relay.statistics()
        return {"relay": {k: s[k] for k in ("peers", "drops") if k in s},
                "connected_peers": self.node.connected_peer_ids()}


Party = PeerParty | NodeParty  # NodePubsubParty is a NodeParty


class NodePubsubParty(NodeParty):
    """Our node running plain libp2p gossipsub (StrictSign, from+seqno ids, /meshsub) instead of
    Waku relay: raw random data, as the other implementations publish with their library defaults."""

    def __init__(self, node: Node, nursery: trio.Nursery, pubsub: Gossipsub) -> None:
        super().__init__(node, nursery)
        self.pubsub = pubsub

    def _join(self, topic: str) -> None:
        self.pubsub.subscribe(topic)

    def _subscription(self, topic: str) -> Any:
        return self.pubsub.messages(topic, buffer=100_000)

    def _data_of(self, delivered: Any) -> bytes:
        return bytes(delivered.data)

    def _mesh(self, topic: str) -> list[str]:
        return self.pubsub.mesh_peers(topic)

    async def _publish_one(self, topic: str, size: int) -> bytes:
        data = secrets.token_bytes(size)
        await self.pubsub.publish(topic, data)
        return data

    async def stats(self) -> dict[str, Any]:
        stats = self.pubsub.router.stats
        return {"relay": {"drops": dict(stats.drops), "delivered": stats.messages_delivered,
                          "duplicates": stats.duplicates},
                "connected_peers": self.node.connected_peer_ids()}


@asynccontextmanager
async def node_party(workdir: Path, mapping: dict[str, Any] | None = None, mode: str = "waku",
                     **overrides: Any) -> AsyncIterator[NodeParty]:
    """Our node on 127.0.0.1. ``mode`` "waku": Waku relay on shard 0; "libp2p": plain gossipsub with the
    libp2p defaults instead. ``mapping`` is config as in a TOML file (a scenario's ``node`` object);
    REST and the services stay off unless it names them. ``overrides`` replace NodeConfig fields."""
    mapping = dict(mapping or {})
    listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"]
    base = NodeConfig.from_mapping({"data_dir": str(workdir), "listen": listen, "shards": [0], **mapping},
                                   source="scenario node")
    off: dict[str, Any] = {name: None for name in SERVICES_OFF if name not in mapping}
    if mode == "libp2p":
        off["relay"] = None
    async with open_node(base.with_overrides(**off, **overrides)) as node, trio.open_nursery() as nursery:
        if mode == "libp2p":
            pubsub = Gossipsub(node.host)
            await nursery.start(pubsub.run)
            yield NodePubsubParty(node, nursery, pubsub)
        else:
            yield NodeParty(node, nursery)
        nursery.cancel_scope.cancel()
