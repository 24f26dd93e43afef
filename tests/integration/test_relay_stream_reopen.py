"""A peer that resets our outbound relay stream (but keeps the connection) gets a new stream,
with our subscriptions repeated, and later messages still reach it."""

from __future__ import annotations

import time
from pathlib import Path

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.net_stream import INetStream
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from w3msg_libp2p.core.framing import FrameDecoder
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.net.host import build_host
from w3msg_libp2p.node.keys import generate_key_pair
from w3msg_libp2p.protocols.relay import codec
from w3msg_libp2p.protocols.relay.params import WAKU_RELAY_PROTOCOL
from w3msg_libp2p.protocols.relay.rpc import SubOpt

from .conftest import TOPIC, running_nodes


async def test_reset_outbound_stream_is_reopened_and_resynced(tmp_path: Path) -> None:
    streams_seen = 0
    received: list = []
    peer_host = build_host(generate_key_pair("ed25519"))

    async def handler(stream: INetStream) -> None:
        nonlocal streams_seen
        streams_seen += 1
        if streams_seen == 1:
            await stream.reset()  # the first relay stream from the node dies at once
            return
        decoder = FrameDecoder(1 << 20)
        while data := await stream.read(65536):
            received.extend(codec.decode_rpc(body) for body in decoder.feed(data))

    peer_host.set_stream_handler(TProtocol(WAKU_RELAY_PROTOCOL), handler)
    async with running_nodes(tmp_path, 1) as (node,), peer_host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        relay = node.relay
        assert relay is not None
        node_info = info_from_p2p_addr(Multiaddr(node.listen_addrs()[0]))
        await peer_host.connect(node_info)
        # tell the node we are on the topic, over our own outbound stream
        out = await peer_host.new_stream(node_info.peer_id, [TProtocol(WAKU_RELAY_PROTOCOL)])
        hello = codec.subscriptions_fields([SubOpt(True, TOPIC)])
        await out.write(len(hello).to_bytes(1, "big") + hello)
        with trio.fail_after(10):
            while streams_seen < 2 or not received:
                await trio.sleep(0.05)
        # the reset lands either during negotiation or on our first write: both are retried
        drops = relay.router.stats.drops
        assert drops["write_failed"] + drops["outbound_stream_failed"] >= 1
        assert any(s.topic == TOPIC and s.subscribe for rpc in received for s in rpc.subscriptions)
        await relay.publish(TOPIC, WakuMessage(b"after reset", "/test/1/relay/proto", timestamp=time.time_ns()))
        with trio.fail_after(10):
            while not any(rpc.messages for rpc in received):
                await trio.sleep(0.05)
        assert peer_host.get_network().connections  # the connection itself survived
