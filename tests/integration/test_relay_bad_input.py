"""A hostile peer speaking raw bytes on the relay protocol: everything is refused, counted,
and the node keeps relaying for everyone else."""

from __future__ import annotations

import time
from pathlib import Path

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.framing import encode_uvarint, frame
from w3msg_libp2p.core.message import WakuMessage
from w3msg_libp2p.net.host import build_host
from w3msg_libp2p.node.keys import generate_key_pair
from w3msg_libp2p.protocols.relay import codec
from w3msg_libp2p.protocols.relay.params import WAKU_RELAY_PROTOCOL
from w3msg_libp2p.protocols.relay.rpc import PubMessage, SubOpt

from .conftest import TOPIC, running_nodes


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


async def test_garbage_oversized_and_invalid_input_is_counted_and_survived(tmp_path: Path) -> None:
    async with running_nodes(tmp_path, 2) as (victim, friend):
        await friend.connect(victim.listen_addrs()[0])
        await friend.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        relay = victim.relay
        assert relay is not None
        drops = relay.router.stats.drops

        attacker = build_host(generate_key_pair("ed25519"))
        async with attacker.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
            await attacker.connect(info_from_p2p_addr(Multiaddr(victim.listen_addrs()[0])))
            stream = await attacker.new_stream(info_from_p2p_addr(Multiaddr(victim.listen_addrs()[0])).peer_id,
                                               [TProtocol(WAKU_RELAY_PROTOCOL)])
            hello = codec.subscriptions_fields([SubOpt(True, TOPIC)])
            not_protobuf = b"\xff\xff\xff\xff"
            bad_waku = codec.publish_field(PubMessage(TOPIC, b"\x0a\xff not a waku message"))
            bad_topic = codec.publish_field(PubMessage(TOPIC, encode_message(WakuMessage(b"x", "nope"))))
            signed = codec.publish_field(PubMessage(TOPIC, b"x", from_peer=b"me", seqno=b"\x01"))
            await stream.write(frame(hello) + frame(not_protobuf) + frame(bad_waku) + frame(bad_topic) + frame(signed))
            await wait_for(lambda: drops["rejected:signed_message_under_strict_no_sign"] == 1)
            assert drops["malformed_rpc"] == 1
            assert drops["rejected:malformed_waku_message"] == 1
            assert drops["rejected:invalid_content_topic"] == 1
            # an oversized frame length: refused before any of it is buffered, stream reset
            await stream.write(encode_uvarint(relay.router.params.max_rpc_size + 1) + b"\x00" * 100)
            await wait_for(lambda: drops["oversized_rpc"] == 1)

        # the node still relays for honest peers
        with victim.relay.messages(TOPIC) as sub:  # type: ignore[union-attr]
            sent = await friend.relay.publish(  # type: ignore[union-attr]
                TOPIC, WakuMessage(b"still here", "/test/1/relay/proto", timestamp=time.time_ns()))
            with trio.fail_after(10):
                assert (await sub.receive()).hash == sent
