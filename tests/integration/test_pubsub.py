"""Plain libp2p gossipsub (w3msg_libp2p.protocols.relay.pubsub.Gossipsub) between our own nodes on
real hosts: signed messages (StrictSign) cross a line of three nodes, verified by each on the way.
The other implementations are checked by the interop harness (interop/scenarios/*-libp2p-*.json)."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.integration.conftest import running_nodes
from w3msg_libp2p.protocols.relay.pubsub import Gossipsub

TOPIC = "w3msg-test"


async def test_signed_messages_cross_a_line_of_three(tmp_path: Path) -> None:
    async with running_nodes(tmp_path, 3, relay=None) as nodes, trio.open_nursery() as nursery:
        subs = []
        for node in nodes:
            pubsub = Gossipsub(node.host)
            await nursery.start(pubsub.run)
            pubsub.subscribe(TOPIC)
            subs.append(pubsub)
        await nodes[0].connect(nodes[1].listen_addrs()[0])
        await nodes[1].connect(nodes[2].listen_addrs()[0])
        with trio.fail_after(15):
            while len(subs[1].mesh_peers(TOPIC)) < 2 or not subs[2].mesh_peers(TOPIC):
                await trio.sleep(0.05)
        with subs[2].messages(TOPIC) as inbox:
            ids = [await subs[0].publish(TOPIC, b"same bytes") for _ in range(20)]
            with trio.fail_after(10):
                got = [await inbox.receive() for _ in ids]
        assert len(set(ids)) == 20  # same data, new seqno: distinct messages
        assert [m.msg_id for m in got] == ids
        assert all(m.data == b"same bytes" and m.received_from == nodes[1].peer_id for m in got)
        assert all(i.startswith(nodes[0].host.get_id().to_bytes()) for i in ids)
        assert subs[1].router.stats.drops == {} and subs[2].router.stats.drops == {}
        assert subs[2].router.stats.messages_delivered == 20
        nursery.cancel_scope.cancel()
