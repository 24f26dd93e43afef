"""Our node against a rust-libp2p 0.56 peer (interop/peers/rust), in both dial directions.

Connect + identify + ping (test-plans style timings printed by the dialer), 1 MiB echo on
/w3msg/echo/1.0.0 both ways, and gossipsub in the Waku configuration: 1000 WakuMessages each way,
every one delivered exactly once with the same sha256 message id on both sides. A last scenario
runs the Rust peer with gossipsub's library defaults (signed messages, /meshsub/1.1.0) and checks
that our relay refuses its messages and counts the refusals.

interop/tests/conftest.py puts the repository root on sys.path (for tests.interop.conftest's
JSON-lines driver). The peer is built by interop/peers/rust/build.sh (cargo, crates.io; a no-op when cached). Without
cargo the tests skip, except under CI=true, where a missing toolchain is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.network.stream.net_stream import NetStream
from libp2p.peer.id import ID

from tests.interop.conftest import JsPeer
from w3msg_libp2p.core.codec import decode_message, encode_message
from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.protocols.inbox import Subscription
from w3msg_libp2p.protocols.relay.params import WAKU_RELAY_PROTOCOL
from w3msg_libp2p.testing.peer_process import peer_launcher

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]

BUILD_SCRIPT = ROOT / "interop" / "peers" / "rust" / "build.sh"
ECHO_PROTOCOL = "/w3msg/echo/1.0.0"
PING_PROTOCOL = "/ipfs/ping/1.0.0"
TOPIC = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/w3msg-interop/1/rust/proto"
COUNT = 1000
PAYLOAD_SIZE = 1000
ECHO_SIZE = 1 << 20
MESH_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 90.0
DIALERS = ("w3msg", "rust")



class RustPeer(JsPeer):
    """The JS peer's JSON-lines driver (same protocol), also keeping the Rust peer's own events."""

    def __init__(self, process: trio.Process, log_path: Path) -> None:
        super().__init__(process, log_path)
        self.events: list[dict[str, Any]] = []  # connection events and "echo_served"

    def _dispatch(self, obj: dict[str, Any]) -> None:
        if obj.get("event") in ("connected", "disconnected", "echo_served"):
            self.events.append(obj)
        super()._dispatch(obj)


StartPeer = Callable[..., Awaitable[RustPeer]]


@pytest.fixture(scope="session")
def rust_binary() -> Path:
    if shutil.which("cargo") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but cargo is missing (rust-libp2p interop peer)", pytrace=False)
        pytest.skip("cargo not installed: cannot build interop/peers/rust")
    done = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        pytest.fail(f"building the Rust peer failed:\n{done.stderr[-4000:]}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture
async def rust_peers(rust_binary: Path, tmp_path: Path) -> AsyncIterator[StartPeer]:
    """A function starting Rust peers (``--mode`` flags as arguments); all are killed on teardown."""
    async with peer_launcher(RustPeer, tmp_path, "rust-peer") as launch:

        async def start(*flags: str) -> RustPeer:
            return await launch(str(rust_binary), *flags)

        yield start


async def echo_handler(stream: INetStream) -> None:
    """Our side of /w3msg/echo/1.0.0: send back everything until EOF, then half-close."""
    try:
        while data := await read_some(stream):
            await stream.write(data)
        await half_close(stream)
    except Exception:
        await stream.reset()
        raise


async def half_close(stream: INetStream) -> None:
    assert isinstance(stream, NetStream)  # INetStream has no close_write
    await stream.close_write()


async def read_some(stream: INetStream) -> bytes:
    try:
        return await stream.read(1 << 16)
    except StreamEOF:
        return b""


@asynccontextmanager
async def our_node(tmp_path: Path) -> AsyncIterator[Node]:
    config = NodeConfig(data_dir=tmp_path / "w3msg", listen=("/ip4/127.0.0.1/tcp/0",), rest=None,
                        shards=(0,), cluster_id=1)
    async with open_node(config) as node:
        node.host.set_stream_handler(TProtocol(ECHO_PROTOCOL), echo_handler)
        yield node


def tcp_addr(node: Node) -> str:
    return next(a for a in node.listen_addrs() if "/tcp/" in a and "/ws" not in a)


async def our_ping_rtts(node: Node, peer_id: str, count: int) -> list[float]:
    """RTTs in ms measured here (py-libp2p's PingService rounds to whole ms, 0 on loopback)."""
    stream = await node.host.new_stream(ID.from_base58(peer_id), [TProtocol(PING_PROTOCOL)])
    rtts = []
    try:
        for _ in range(count):
            payload = os.urandom(32)
            start = time.perf_counter()
            await stream.write(payload)
            back = b""
            while len(back) < 32:
                chunk = await read_some(stream)
                assert chunk, "ping stream closed early"
                back += chunk
            rtts.append((time.perf_counter() - start) * 1000)
            assert back == payload
    finally:
        await stream.close()
    return rtts


async def connect(node: Node, rust: RustPeer, dialer: str) -> dict[str, float]:
    """Connect (``dialer`` opens the connection); returns test-plans' timings measured by the dialer."""
    if dialer == "w3msg":
        start = time.perf_counter()
        assert await node.connect(rust.ready["multiaddrs"][0]) == rust.peer_id
        first = await our_ping_rtts(node, rust.peer_id, 1)
        return {"handshakePlusOneRTTMillis": (time.perf_counter() - start) * 1000, "pingRTTMilllis": first[0]}
    reply = await rust.command("dial", multiaddr=tcp_addr(node))
    assert reply["peer_id"] == node.peer_id
    return {"handshakePlusOneRTTMillis": reply["handshake_plus_one_rtt_ms"], "pingRTTMilllis": reply["ping_rtt_ms"]}


async def wait_for_protocols(node: Node, peer_id: str, want: set[str], timeout: float = 10.0) -> set[str]:
    protocols: set[str] = set()
    with trio.move_on_after(timeout):
        while not want <= protocols:
            protocols = {p for s in node.peers() if s.peer_id == peer_id for p in s.protocols}
            await trio.sleep(0.05)
    return protocols


@pytest.mark.parametrize("dialer", DIALERS)
async def test_connect_identify_ping(rust_peers: StartPeer, tmp_path: Path, dialer: str) -> None:
    rust = await rust_peers("--mode", "waku")
    async with our_node(tmp_path) as node:
        timings = await connect(node, rust, dialer)
        print(json.dumps({"dialer": dialer, **timings}))
        assert timings["handshakePlusOneRTTMillis"] >= timings["pingRTTMilllis"] > 0

        # Identify both ways: the Rust peer learned our protocols, we learned its.
        ident = await rust.command("identify", peer_id=node.peer_id, timeout_ms=10_000)
        assert {WAKU_RELAY_PROTOCOL, PING_PROTOCOL, "/ipfs/id/1.0.0"} <= set(ident["protocols"])
        assert any(a.startswith("/ip4/127.0.0.1/tcp/") for a in ident["listen_addrs"])
        want = {WAKU_RELAY_PROTOCOL, PING_PROTOCOL, ECHO_PROTOCOL}
        theirs = await wait_for_protocols(node, rust.peer_id, want)
        assert want <= theirs, f"our peerstore has {sorted(theirs)} for the Rust peer"

        # Ping both ways on the same connection.
        pinged = await rust.command("ping", peer_id=node.peer_id, count=5)
        assert len(pinged["rtts_ms"]) == 5 and all(r > 0 for r in pinged["rtts_ms"])
        assert len(await our_ping_rtts(node, rust.peer_id, 5)) == 5
        assert node.connected_peer_ids() == [rust.peer_id]


async def our_echo(node: Node, peer_id: str, size: int) -> tuple[bytes, bytes]:
    """Write ``size`` random bytes, half-close, read the echo concurrently (windows would stall otherwise)."""
    data = os.urandom(size)
    stream = await node.host.new_stream(ID.from_base58(peer_id), [TProtocol(ECHO_PROTOCOL)])
    back = bytearray()

    async def writer() -> None:
        for i in range(0, size, 1 << 16):
            await stream.write(data[i:i + (1 << 16)])
        await half_close(stream)

    async def reader() -> None:
        while chunk := await read_some(stream):
            back.extend(chunk)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            nursery.start_soon(reader)
    await stream.close()
    return data, bytes(back)


@pytest.mark.parametrize("dialer", DIALERS)
async def test_echo_1mib_both_ways(rust_peers: StartPeer, tmp_path: Path, dialer: str) -> None:
    rust = await rust_peers("--mode", "waku")
    async with our_node(tmp_path) as node:
        await connect(node, rust, dialer)
        echoed = await rust.command("echo", peer_id=node.peer_id, size=ECHO_SIZE)
        assert echoed["ok"] is True and echoed["bytes"] == ECHO_SIZE, echoed
        start = time.perf_counter()
        sent, back = await our_echo(node, rust.peer_id, ECHO_SIZE)
        print(json.dumps({"dialer": dialer, "rust_echo_ms": echoed["ms"],
                          "w3msg_echo_ms": (time.perf_counter() - start) * 1000}))
        assert len(back) == ECHO_SIZE, f"the Rust peer echoed {len(back)} of {ECHO_SIZE} bytes"
        assert back == sent
        served = [e for e in rust.events if e["event"] == "echo_served"]
        assert served == [{"event": "echo_served", "peer_id": node.peer_id, "bytes": ECHO_SIZE}]


async def join_relay(node: Node, rust: RustPeer, dialer: str) -> None:
    assert node.relay is not None
    await rust.command("subscribe", topic=TOPIC)
    await connect(node, rust, dialer)
    with trio.fail_after(MESH_TIMEOUT):
        while rust.peer_id not in node.relay.mesh_peers(TOPIC):
            await trio.sleep(0.05)
    await rust.command("wait_mesh", topic=TOPIC, peer_id=node.peer_id, timeout_ms=int(MESH_TIMEOUT * 1000))
    assert node.relay.router.peers[rust.peer_id].protocol == WAKU_RELAY_PROTOCOL


async def collect(node: Node, sub: Subscription, count: int, timeout: float) -> list[Envelope]:
    out: list[Envelope] = []
    with trio.move_on_after(timeout):
        while len(out) < count:
            out.append(await sub.receive())
    return out


async def check_rust_to_us(node: Node, rust: RustPeer) -> None:
    assert node.relay is not None
    with node.relay.messages(TOPIC) as sub:
        reply = await rust.command("publish", topic=TOPIC, count=COUNT, size=PAYLOAD_SIZE,
                                   content_topic=CONTENT_TOPIC)
        assert reply["ok"] == COUNT, f"Rust publish errors: {reply['errors']}"
        received = await collect(node, sub, COUNT, DELIVERY_TIMEOUT)
        await trio.sleep(0.5)
        received += await collect(node, sub, 1, 0.01)  # a duplicate would show up here
    stats = node.relay.statistics()
    assert len(received) == COUNT, f"got {len(received)}/{COUNT}; relay stats {stats}"
    sent = {m["msg_id"]: m for m in reply["messages"]}
    by_id = {hashlib.sha256(encode_message(env.message)).hexdigest(): env for env in received}
    assert by_id.keys() == sent.keys()
    for msg_id, env in by_id.items():
        data = bytes.fromhex(sent[msg_id]["data_hex"])
        assert hashlib.sha256(data).hexdigest() == msg_id and bytes.fromhex(msg_id) in node.relay.router.seen
        assert decode_message(data) == env.message
        assert env.message.payload == bytes.fromhex(sent[msg_id]["payload_hex"])
        assert env.message.content_topic == CONTENT_TOPIC and env.received_from == rust.peer_id
    assert stats["drops"] == {}, stats["drops"]


async def check_us_to_rust(node: Node, rust: RustPeer) -> None:
    assert node.relay is not None
    sent: dict[str, WakuMessage] = {}
    for _ in range(COUNT):
        msg = WakuMessage(payload=os.urandom(PAYLOAD_SIZE), content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
        await node.relay.publish(TOPIC, msg)
        sent[hashlib.sha256(encode_message(msg)).hexdigest()] = msg
    await rust.wait_until(lambda: len(rust.messages) >= COUNT, DELIVERY_TIMEOUT, f"{COUNT} messages")
    await trio.sleep(0.5)
    assert len(rust.messages) == COUNT, "the Rust peer received messages more than once"
    by_id = {m["msg_id"]: m for m in rust.messages}
    assert by_id.keys() == sent.keys()  # Rust's message id fn (sha256(data)) agrees with ours
    for msg_id, m in by_id.items():
        assert m["sha256"] == msg_id and m["topic"] == TOPIC and m["from"] == node.peer_id
        assert m["source"] is None and m["seqno"] is None  # StrictNoSign: no author, no seqno
        assert decode_message(bytes.fromhex(m["data_hex"])) == sent[msg_id]


@pytest.mark.parametrize("dialer", DIALERS)
async def test_waku_relay_1000_each_way(rust_peers: StartPeer, tmp_path: Path, dialer: str) -> None:
    rust = await rust_peers("--mode", "waku")
    async with our_node(tmp_path) as node:
        await join_relay(node, rust, dialer)
        await check_rust_to_us(node, rust)
        await check_us_to_rust(node, rust)
        assert [e["event"] for e in rust.events] == ["connected"], rust.events  # one connection, never dropped
        assert node.connected_peer_ids() == [rust.peer_id]


SIGNED_COUNT = 20


@pytest.mark.parametrize("dialer", DIALERS)
async def test_libp2p_defaults_are_refused(rust_peers: StartPeer, tmp_path: Path, dialer: str) -> None:
    """gossipsub's library defaults (StrictSign) against our StrictNoSign relay: both sides refuse.

    The mesh forms on /meshsub/1.1.0, but neither side accepts the other's messages: our unsigned
    messages fail the Rust peer's strict validation, and its signed ones are rejected by us and counted.
    """
    rust = await rust_peers("--mode", "libp2p")
    async with our_node(tmp_path) as node:
        assert node.relay is not None
        await rust.command("subscribe", topic=TOPIC)
        await connect(node, rust, dialer)
        with trio.fail_after(MESH_TIMEOUT):
            while rust.peer_id not in node.relay.mesh_peers(TOPIC):
                await trio.sleep(0.05)
        await rust.command("wait_mesh", topic=TOPIC, peer_id=node.peer_id, timeout_ms=int(MESH_TIMEOUT * 1000))
        assert node.relay.router.peers[rust.peer_id].protocol == "/meshsub/1.1.0"

        for _ in range(SIGNED_COUNT):
            msg = WakuMessage(payload=os.urandom(100), content_topic=CONTENT_TOPIC, timestamp=time.time_ns())
            await node.relay.publish(TOPIC, msg)
        with node.relay.messages(TOPIC) as sub:
            reply = await rust.command("publish", topic=TOPIC, count=SIGNED_COUNT, size=100)
            assert reply["ok"] == SIGNED_COUNT, reply["errors"]
            drops = node.relay.router.stats.drops
            with trio.move_on_after(10):
                while drops["rejected:signed_message_under_strict_no_sign"] == 0:
                    await trio.sleep(0.05)
            received = await collect(node, sub, 1, 1.0)
        stats = await rust.command("stats")
        # The rejections graylist the Rust peer and our relay then closes the connection.
        with trio.move_on_after(10):
            while node.connected_peer_ids():
                await trio.sleep(0.05)
        print(json.dumps({"dialer": dialer, "our_drops": dict(drops), "rust_received": stats["received"],
                          "our_relay": node.relay.statistics(), "rust_events": rust.events}))
        assert received == [], "our relay delivered a signed message"
        assert drops["rejected:signed_message_under_strict_no_sign"] > 0, dict(drops)
        assert node.relay.statistics()["messages_published"] == SIGNED_COUNT
        assert stats["received"] == 0 and rust.messages == [], "the Rust peer accepted unsigned messages"
        assert node.connected_peer_ids() == []
        await rust.wait_until(lambda: any(e["event"] == "disconnected" for e in rust.events), 5.0, "disconnect")


async def test_paced_publish(rust_peers: StartPeer, tmp_path: Path) -> None:
    """`publish` with `interval_us` (used by interop/runner.py) spreads messages out and still delivers all."""
    rust = await rust_peers("--mode", "waku")
    async with our_node(tmp_path) as node:
        assert node.relay is not None
        await join_relay(node, rust, "rust")
        with node.relay.messages(TOPIC) as sub:
            start = time.perf_counter()
            reply = await rust.command("publish", topic=TOPIC, count=20, size=200, interval_us=20_000)
            elapsed = time.perf_counter() - start
            received = await collect(node, sub, 20, 10.0)
        assert reply["ok"] == 20 and elapsed >= 19 * 0.020
        assert {hashlib.sha256(encode_message(e.message)).hexdigest() for e in received} == \
            {m["sha256"] for m in reply["messages"]}
