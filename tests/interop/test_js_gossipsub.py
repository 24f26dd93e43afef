"""Our Waku relay against js-libp2p 3.x gossipsub configured as js-waku configures it.

Both dial directions and both message directions, 200 WakuMessages each way on
/waku/2/rs/1/0: every message arrives, both sides compute the same gossipsub message id
(sha256 of the data), the same WakuMessage fields and the same Waku message hash. Invalid
messages from the JS side are refused and counted under their reason.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.interop.conftest import JsPeer, StartPeer
from w3msg_libp2p.core.codec import decode_message, encode_message
from w3msg_libp2p.core.message import Envelope, WakuMessage, message_hash
from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.protocols.relay.params import WAKU_RELAY_PROTOCOL
from w3msg_libp2p.protocols.relay.waku import Subscription

pytestmark = pytest.mark.interop

TOPIC = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/w3msg-interop/1/js-gossipsub/proto"
COUNT = 200
PAYLOAD_SIZE = 1000
MESH_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 60.0


@asynccontextmanager
async def relay_node(tmp_path: Path, transport: str = "tcp") -> AsyncIterator[Node]:
    # One listener only: py-libp2p 0.8.1 serves TCP and WS listen addresses with the same
    # (host, port) - tcp/0 twice included - from one socket whose classifier reads the first
    # 3 bytes with a single receive; js-libp2p writes "\x13" alone first, so its TCP dials
    # there fail at random ("Encryption failed"). See docs/interop.md.
    listen = "/ip4/127.0.0.1/tcp/0/ws" if transport == "ws" else "/ip4/127.0.0.1/tcp/0"
    config = NodeConfig(data_dir=tmp_path / "w3msg", listen=(listen,), rest=None, shards=(0,), cluster_id=1)
    async with open_node(config) as node:
        yield node


def our_addr(node: Node, transport: str) -> str:
    for addr in node.listen_addrs():
        if ("/ws/" in addr) == (transport == "ws"):
            return addr
    raise AssertionError(f"our node has no {transport} address: {node.listen_addrs()}")


async def join(node: Node, js: JsPeer, dialer: str, transport: str = "tcp") -> None:
    """Connect the two (``dialer`` opens the connection) and wait until each has the other in its mesh."""
    assert node.relay is not None
    await js.command("subscribe", topic=TOPIC)
    if dialer == "w3msg":
        assert await node.connect(js.multiaddr(transport)) == js.peer_id
    else:
        reply = await js.command("dial", multiaddr=our_addr(node, transport))
        assert reply["peer_id"] == node.peer_id
    with trio.fail_after(MESH_TIMEOUT):
        while js.peer_id not in node.relay.mesh_peers(TOPIC):
            await trio.sleep(0.05)
    await js.command("wait_mesh", topic=TOPIC, peer_id=node.peer_id, timeout_ms=int(MESH_TIMEOUT * 1000))
    # Both relay streams negotiated the Waku codec, not a /meshsub fallback.
    assert node.relay.router.peers[js.peer_id].protocol == WAKU_RELAY_PROTOCOL
    assert js.ready["config"]["protocols"] == [WAKU_RELAY_PROTOCOL]


def waku_from_json(fields: dict[str, Any]) -> WakuMessage:
    """A WakuMessage as the JS peer reports it (bytes in hex, timestamp as a decimal string)."""

    def opt_bytes(key: str) -> bytes | None:
        return None if fields[key] is None else bytes.fromhex(fields[key])

    return WakuMessage(
        payload=bytes.fromhex(fields["payload"]),
        content_topic=fields["content_topic"],
        version=fields["version"],
        timestamp=None if fields["timestamp"] is None else int(fields["timestamp"]),
        meta=opt_bytes("meta"),
        rate_limit_proof=opt_bytes("rate_limit_proof"),
        ephemeral=fields["ephemeral"],
    )


async def collect(sub: Subscription, count: int, timeout: float) -> list[Envelope]:
    out: list[Envelope] = []
    with trio.move_on_after(timeout):
        while len(out) < count:
            out.append(await sub.receive())
    return out


def drain(sub: Subscription) -> list[Envelope]:
    out: list[Envelope] = []
    while True:
        try:
            out.append(sub.receive_nowait())
        except trio.WouldBlock:
            return out


async def check_js_to_us(node: Node, js: JsPeer) -> None:
    assert node.relay is not None
    with node.relay.messages(TOPIC) as sub:
        reply = await js.command("publish", topic=TOPIC, count=COUNT, size=PAYLOAD_SIZE,
                                 content_topic=CONTENT_TOPIC)
        assert reply["ok"] == COUNT, f"JS publish errors: {reply['errors']}"
        assert all(m["recipients"] == [node.peer_id] for m in reply["messages"])
        received = await collect(sub, COUNT, DELIVERY_TIMEOUT)
        await trio.sleep(0.5)  # anything beyond COUNT would be a duplicate delivery
        extra = drain(sub)
    stats = node.relay.statistics()
    assert len(received) == COUNT, f"got {len(received)}/{COUNT}; relay stats {stats}"
    assert not extra, f"{len(extra)} messages delivered more than once"

    sent = {m["msg_id"]: m for m in reply["messages"]}
    by_id = {hashlib.sha256(encode_message(env.message)).hexdigest(): env for env in received}
    assert by_id.keys() == sent.keys()
    for msg_id, env in by_id.items():
        js_msg = sent[msg_id]
        data = bytes.fromhex(js_msg["data"])
        assert hashlib.sha256(data).hexdigest() == msg_id
        assert bytes.fromhex(msg_id) in node.relay.router.seen  # the id our router computed
        assert decode_message(data) == env.message == waku_from_json(js_msg["waku"])
        assert env.message.content_topic == CONTENT_TOPIC and len(env.message.payload) == PAYLOAD_SIZE
        assert env.pubsub_topic == TOPIC and env.received_from == js.peer_id
        assert env.hash == message_hash(TOPIC, env.message) == bytes.fromhex(js_msg["hash"])
    assert stats["drops"] == {}, stats["drops"]


def has_received(peer: JsPeer, count: int) -> Callable[[], bool]:
    return lambda: len(peer.messages) >= count


def our_message(i: int) -> WakuMessage:
    """Vary the optional fields so the JS side decodes every one of them."""
    return WakuMessage(
        payload=os.urandom(PAYLOAD_SIZE),
        content_topic=CONTENT_TOPIC,
        version=(0, 1, None)[i % 3],
        timestamp=time.time_ns(),
        meta=f"meta-{i}".encode() if i % 4 == 0 else None,
        ephemeral=(None, True, False)[i % 3],
    )


async def check_us_to_js(node: Node, js: JsPeer) -> None:
    assert node.relay is not None
    sent: dict[str, tuple[WakuMessage, bytes]] = {}
    for i in range(COUNT):
        msg = our_message(i)
        waku_hash = await node.relay.publish(TOPIC, msg)
        sent[hashlib.sha256(encode_message(msg)).hexdigest()] = (msg, waku_hash)
    await js.wait_until(has_received(js, COUNT), DELIVERY_TIMEOUT, f"{COUNT} messages")
    await trio.sleep(0.5)
    assert len(js.messages) == COUNT, "the JS peer received messages more than once"
    assert not js.rejected, f"js-waku's validator rejected our messages: {js.rejected[:3]}"

    by_id = {m["msg_id"]: m for m in js.messages}
    assert by_id.keys() == sent.keys()
    for msg_id, js_msg in by_id.items():
        msg, waku_hash = sent[msg_id]
        assert js_msg["sha256"] == msg_id  # JS msgIdFn == sha256(data), as js-waku configures it
        assert js_msg["topic"] == TOPIC and js_msg["from"] == node.peer_id
        assert js_msg["signed"] is False
        assert waku_from_json(js_msg["waku"]) == msg
        assert bytes.fromhex(js_msg["hash"]) == waku_hash == message_hash(TOPIC, msg)
    stats = await js.command("stats")
    assert stats["counters"]["rejected"] == 0


@pytest.mark.parametrize(
    ("dialer", "transport"),
    [("w3msg", "tcp"), ("js", "tcp"), ("w3msg", "ws"), ("js", "ws")],
)
async def test_relay_both_ways(js_peers: StartPeer, tmp_path: Path, dialer: str, transport: str) -> None:
    js = await js_peers()
    async with relay_node(tmp_path, transport) as node:
        await join(node, js, dialer, transport)
        await check_js_to_us(node, js)
        await check_us_to_js(node, js)


async def wait_for_drops(node: Node, want: dict[str, int], timeout: float = 10.0) -> dict[str, int]:
    assert node.relay is not None
    drops = node.relay.router.stats.drops
    with trio.move_on_after(timeout):
        while any(drops[k] < n for k, n in want.items()):
            await trio.sleep(0.05)
    return dict(drops)


async def test_invalid_messages_from_js_are_refused(js_peers: StartPeer, tmp_path: Path) -> None:
    js = await js_peers()
    signer = await js_peers("--signature-policy", "StrictSign")  # a peer breaking StrictNoSign
    async with relay_node(tmp_path) as node:
        assert node.relay is not None
        await join(node, js, "w3msg")
        await join(node, signer, "w3msg")
        with node.relay.messages(TOPIC) as sub:
            truncated = b"\x0a\x10abc"  # payload field claims 16 bytes, has 3
            raw = await js.command("publish_raw", topic=TOPIC, data_hex=truncated.hex())
            bad_topic = await js.command("publish", topic=TOPIC, count=1, size=10, content_topic="no-slash")
            signed = await signer.command("publish", topic=TOPIC, count=1, size=10,
                                          content_topic=CONTENT_TOPIC)
            for reply in (raw, bad_topic["messages"][0], signed["messages"][0]):
                assert node.peer_id in reply["recipients"]
            want = {
                "rejected:malformed_waku_message": 1,
                "rejected:invalid_content_topic": 1,
                "rejected:signed_message_under_strict_no_sign": 1,
            }
            drops = await wait_for_drops(node, want)
            assert drops == want
            assert node.relay.statistics()["drops"] == want
            assert node.relay.router.score.score(js.peer_id) < 0  # REJECT penalises the sender
            assert node.relay.router.score.score(signer.peer_id) < 0

            # Nothing refused was delivered; a valid message afterwards still is.
            good = await js.command("publish", topic=TOPIC, count=1, size=10, content_topic=CONTENT_TOPIC)
            with trio.fail_after(10):
                env = await sub.receive()
            assert env.message == waku_from_json(good["messages"][0]["waku"])
            await trio.sleep(0.3)
            assert drain(sub) == []


async def test_we_forward_between_two_js_peers(js_peers: StartPeer, tmp_path: Path) -> None:
    """js-a -- w3msg -- js-b: what we forward (re-framed by our router) is what js sent."""
    js_a, js_b = await js_peers(), await js_peers()
    async with relay_node(tmp_path) as node:
        assert node.relay is not None
        await join(node, js_a, "w3msg")
        await join(node, js_b, "js")
        count = COUNT // 2
        for src, dst in ((js_a, js_b), (js_b, js_a)):
            reply = await src.command("publish", topic=TOPIC, count=count, size=PAYLOAD_SIZE,
                                      content_topic=CONTENT_TOPIC)
            assert reply["ok"] == count, reply["errors"]
            await dst.wait_until(has_received(dst, count), DELIVERY_TIMEOUT, "forwarded messages")
            got = {m["msg_id"]: m for m in dst.messages}
            assert got.keys() == {m["msg_id"] for m in reply["messages"]}
            for sent in reply["messages"]:
                assert got[sent["msg_id"]]["waku"] == sent["waku"]
                assert got[sent["msg_id"]]["from"] == node.peer_id  # it came through us
            assert not dst.rejected
        assert node.relay.statistics()["messages_forwarded"] == 2 * count
