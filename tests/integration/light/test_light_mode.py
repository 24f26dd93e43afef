"""A light node (no relay) publishes by lightpush, receives by filter and reads store history,
all through its service peer."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from w3msg_libp2p.core.message import WakuMessage, message_hash
from w3msg_libp2p.node.node import open_node
from w3msg_libp2p.node.service_config import FilterConfig, LightpushConfig, StoreConfig
from w3msg_libp2p.protocols.store.rpc import StoreQuery

from ..conftest import TOPIC, local_config

CT = "/light/1/chat/proto"


async def test_light_node_publishes_receives_and_reads_history(tmp_path: Path) -> None:
    service_cfg = local_config(tmp_path, "service", store=StoreConfig(), filter=FilterConfig(),
                               lightpush=LightpushConfig())
    async with open_node(service_cfg) as service, open_node(local_config(tmp_path, "relay")) as relay_peer:
        await relay_peer.connect(service.listen_addrs()[0])
        await relay_peer.relay.wait_for_mesh(TOPIC, 1)  # type: ignore[union-attr]
        light_cfg = local_config(tmp_path, "light", light=True, service_peers=(service.listen_addrs()[0],))
        async with open_node(light_cfg) as light:
            assert light.relay is None and light.light is not None
            # publish: lightpush through the service node reaches its relay peer
            with relay_peer.relay.messages(TOPIC) as inbox:  # type: ignore[union-attr]
                sent = await light.light.publish(WakuMessage(b"from light", CT), TOPIC)
                with trio.fail_after(10):
                    got = await inbox.receive()
            assert got.hash == sent == message_hash(TOPIC, got.message)
            # receive: a filter subscription gets what the relay carries
            with await light.light.subscribe([CT], TOPIC) as pushed:
                published = await relay_peer.relay.publish(  # type: ignore[union-attr]
                    TOPIC, WakuMessage(b"to light", CT, timestamp=time.time_ns()))
                with trio.fail_after(10):
                    env = await pushed.receive()
            assert env.hash == published and env.message.payload == b"to light"
            # history: the service node's store holds both, oldest first
            with trio.fail_after(10):
                while True:
                    pages = [p async for p in light.light.history(
                        StoreQuery(pubsub_topic=TOPIC, content_topics=(CT,), limit=1))]
                    hashes = [e.message_hash for p in pages for e in p.messages]
                    if len(hashes) == 2:
                        break
                    await trio.sleep(0.1)  # the archive writes in batches
            assert hashes == [sent, published]
            assert len(pages) >= 2
