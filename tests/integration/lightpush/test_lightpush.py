"""Lightpush between real nodes on 127.0.0.1: a node without relay (B) pushes through a service
node (A) and A's relay peer (C) receives the message; every refusal, over the wire."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from tests.integration.conftest import local_config
from tests.integration.lightpush.conftest import SHARD0, Net, bare_host, lightpush_net, message, receive
from w3msg_libp2p.core.codec import MAX_WAKU_MESSAGE_BYTES
from w3msg_libp2p.core.errors import PeerUnreachable
from w3msg_libp2p.core.framing import encode_uvarint
from w3msg_libp2p.core.message import message_hash
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.reqresp import RequestResponseProtocol, RequestResponseServer, request
from w3msg_libp2p.node.node import open_node
from w3msg_libp2p.node.service_config import LightpushConfig
from w3msg_libp2p.protocols.lightpush import codec
from w3msg_libp2p.protocols.lightpush.client import LightpushClient
from w3msg_libp2p.protocols.lightpush.rpc import (
    LIGHTPUSH_V2,
    LIGHTPUSH_V3,
    BadRequest,
    InvalidMessage,
    NoPeersToRelay,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedPubsubTopic,
)
from w3msg_libp2p.protocols.lightpush.server import LightpushServer, refuse_v2
from w3msg_libp2p.protocols.lightpush.service import RelayBackedView


def client_of(net: Net) -> LightpushClient:
    return LightpushClient(net.b.host)


@pytest.mark.parametrize("protocols", [(LIGHTPUSH_V3, LIGHTPUSH_V2), (LIGHTPUSH_V2,)])
async def test_light_node_pushes_and_relay_peer_receives(net: Net, protocols: tuple[str, ...]) -> None:
    assert net.b.relay is None and net.c.relay is not None
    with net.c.relay.messages(SHARD0) as sub:
        sent = message(b"from the light node")
        result = await client_of(net).push(net.a.peer_id, sent, SHARD0, protocols=protocols)
        env = await receive(sub)
    assert result.protocol == protocols[0]
    assert env.message == sent and env.hash == result.hash == message_hash(SHARD0, sent)
    assert env.received_from == net.a.peer_id
    if result.protocol == LIGHTPUSH_V3:
        assert result.relay_peer_count == 1
    stats = net.a.lightpush.statistics()
    assert stats["published"] == 1 and stats["refusals"] == {}


async def test_autosharding_and_timestamp_filled_in(net: Net) -> None:
    assert net.a.relay is not None and net.c.relay is not None
    # a content topic whose shard is 0 in cluster 1 (8 shards): the one A and C relay
    content_topic = next(ct for ct in (f"/lptest{i}/1/chat/proto" for i in range(200))
                         if net.a.relay.pubsub_topic_for(ct) == SHARD0)
    with net.c.relay.messages(SHARD0) as sub:
        sent = dataclasses.replace(message(content_topic=content_topic), timestamp=None)
        result = await client_of(net).push(net.a.peer_id, sent)
        env = await receive(sub)
    assert result.pubsub_topic == SHARD0 and result.message.timestamp is not None
    assert env.message == result.message and env.hash == result.hash


async def test_refusals_reach_the_client_typed(net: Net) -> None:
    client = client_of(net)
    a = net.a.peer_id
    with pytest.raises(PayloadTooLarge) as too_large:
        await client.push(a, message(bytes(MAX_WAKU_MESSAGE_BYTES)), SHARD0)
    assert too_large.value.status_code == 413
    for topic in ("/waku/2/rs/1/5", "/waku/2/rs/2/0"):  # a shard A does not relay; another cluster
        with pytest.raises(UnsupportedPubsubTopic) as unsupported:
            await client.push(a, message(), topic)
        assert unsupported.value.status_code == 421
    with pytest.raises(InvalidMessage) as invalid:
        await client.push(a, message(content_topic="no-content-topic"), SHARD0)
    assert invalid.value.status_code == 420
    with pytest.raises(InvalidMessage, match="timestamp"):  # the relay validator's drift check
        await client.push(a, dataclasses.replace(message(), timestamp=1), SHARD0)
    sent = message(b"once")
    await client.push(a, sent, SHARD0)
    with pytest.raises(InvalidMessage, match="already-seen"):
        await client.push(a, sent, SHARD0)
    with pytest.raises(BadRequest):
        await client.push(a, message(), "/not/a/waku/topic")
    refusals = net.a.lightpush.statistics()["refusals"]
    assert refusals == {"payload_too_large": 1, "unsupported_pubsub_topic": 2, "invalid_message": 3,
                        "bad_request": 1}


async def test_no_relay_peers_is_503(tmp_path: Path) -> None:
    async with lightpush_net(tmp_path, connect_c=False) as net:
        with pytest.raises(NoPeersToRelay) as info:
            await client_of(net).push(net.a.peer_id, message(), SHARD0)
        assert info.value.status_code == 503
        with pytest.raises(NoPeersToRelay):  # v2 says not_published_to_any_peer
            await client_of(net).push(net.a.peer_id, message(), SHARD0, protocols=(LIGHTPUSH_V2,))
        assert net.a.lightpush.statistics()["refusals"] == {"no_peers_to_relay": 2}


async def test_flooding_peer_gets_429_while_another_is_served(tmp_path: Path) -> None:
    async with lightpush_net(tmp_path, rate_limit=RateLimit(5, 60.0)) as net, bare_host() as flooder:
        await flooder.connect(info_from_p2p_addr(Multiaddr(net.a.listen_addrs()[0])))
        flood = LightpushClient(flooder)

        async def flood_with(protocol: str, count: int) -> tuple[int, int]:
            served = limited = 0
            for i in range(count):
                try:
                    await flood.push(net.a.peer_id, message(b"flood %d" % i), SHARD0, protocols=(protocol,))
                    served += 1
                except TooManyRequests as exc:  # over v2: nwaku's TOO_MANY_REQUESTS text
                    assert exc.status_code == 429
                    limited += 1
            return served, limited

        assert await flood_with(LIGHTPUSH_V3, 12) == (5, 7)
        assert net.c.relay is not None
        with net.c.relay.messages(SHARD0) as sub:
            result = await client_of(net).push(net.a.peer_id, message(b"still served"), SHARD0)
            assert (await receive(sub)).hash == result.hash
        # each protocol has its own budget, as in nwaku
        assert await flood_with(LIGHTPUSH_V2, 7) == (5, 2)
        refusals = net.a.lightpush.statistics()["refusals"]
        assert refusals == {"rate_limited": 9}


async def test_malformed_and_oversized_requests_are_answered_and_counted(net: Net) -> None:
    host, a = net.b.host, net.a.peer_id
    rng = random.Random(7)
    garbage = [b"\xff\xff\xff", b"\x0a\x05abc", bytes(rng.randrange(256) for _ in range(64))]
    for junk in garbage:
        _, answer = await request(host, a, (LIGHTPUSH_V3,), junk, codec.MAX_RESPONSE_BYTES)
        response = codec.decode_response(answer)
        assert (response.request_id, response.status_code) == ("N/A", 400)
        assert response.status_desc is not None and response.status_desc.startswith("decode_rpc_failure")
    _, answer = await request(host, a, (LIGHTPUSH_V2,), b"\xff\xff\xff", codec.MAX_RESPONSE_BYTES)
    v2 = codec.decode_push_rpc(answer).response
    assert v2 is not None and not v2.is_success and (v2.info or "").startswith("decode_rpc_failure")
    # a frame announcing more than a request may hold: refused before its body is read
    _, answer = await request(host, a, (LIGHTPUSH_V3,), bytes(codec.MAX_REQUEST_BYTES + 1),
                              codec.MAX_RESPONSE_BYTES)
    assert codec.decode_response(answer).status_code == 413
    stats = net.a.lightpush.statistics()
    assert stats["refusals"] == {"status_400": 4, "status_413": 1}
    # the node still serves
    await client_of(net).push(a, message(b"after the garbage"), SHARD0)


async def test_truncated_frame_is_counted(net: Net) -> None:
    stream = await net.b.host.new_stream(net.a.host.get_id(), [LIGHTPUSH_V3])  # type: ignore[list-item]
    await stream.write(encode_uvarint(100) + b"short")
    await stream.close()
    with trio.fail_after(10):
        while not net.a.lightpush.statistics()["refusals"]:
            await trio.sleep(0.05)
    # py-libp2p reports the early end of stream as an error, so the adapter counts it as one
    assert net.a.lightpush.statistics()["refusals"] == {"stream_error": 1}


async def test_client_falls_back_to_v2_for_a_v2_only_peer(net: Net, tmp_path: Path) -> None:
    """A bare host serving only lightpush v2, publishing through A's relay."""
    assert net.a.relay is not None and net.c.relay is not None
    async with bare_host() as v2_only:
        core = LightpushServer(RelayBackedView(net.a.relay), net.a.relay.publish)
        RequestResponseServer(v2_only, RequestResponseProtocol(
            (LIGHTPUSH_V2,), core.handle_v2, refuse_v2, codec.MAX_REQUEST_BYTES)).mount()
        await net.b.host.connect(info_from_p2p_addr(
            Multiaddr(f"{v2_only.get_addrs()[0]}/p2p/{v2_only.get_id()}")))
        with net.c.relay.messages(SHARD0) as sub:
            result = await client_of(net).push(str(v2_only.get_id()), message(b"over v2"), SHARD0)
            assert (await receive(sub)).hash == result.hash
        assert result.protocol == LIGHTPUSH_V2 and result.relay_peer_count is None


async def test_a_peer_without_lightpush_is_unreachable(net: Net) -> None:
    with pytest.raises(PeerUnreachable):
        await client_of(net).push(net.c.peer_id, message(), SHARD0)


async def test_lightpush_is_not_served_without_relay(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # serving lightpush means publishing on our relay: without one, it is left out, and said so
    async with open_node(local_config(tmp_path, relay=None, lightpush=LightpushConfig())) as node:
        assert node.lightpush is None
    assert "lightpush" in caplog.text and "not mounted" in caplog.text
