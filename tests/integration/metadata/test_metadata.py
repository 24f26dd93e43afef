"""Metadata between real nodes: same-cluster peers learn each other's shards and stay; peers of
another cluster are disconnected; peers that do not speak metadata are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from libp2p.peer.peerinfo import info_from_p2p_addr
from multiaddr import Multiaddr

from tests.integration.conftest import local_config
from w3msg_libp2p.net.host import build_host
from w3msg_libp2p.net.reqresp import request
from w3msg_libp2p.node.keys import generate_key_pair
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.protocols.metadata import codec
from w3msg_libp2p.protocols.metadata.rpc import METADATA_PROTOCOL, Metadata
from w3msg_libp2p.protocols.metadata.service import MetadataService


@asynccontextmanager
async def with_metadata(*nodes: Node) -> AsyncIterator[list[MetadataService]]:
    """Each node's MetadataService (the node mounts one always)."""
    assert all(isinstance(node.metadata, MetadataService) for node in nodes)
    yield [node.metadata for node in nodes]


async def wait_disconnected(a: Node, peer_id: str, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while peer_id in a.connected_peer_ids():
            await trio.sleep(0.05)


async def test_same_cluster_peers_learn_each_others_shards_and_stay(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, "a")) as a, \
            open_node(local_config(tmp_path, "b", shards=(0, 3))) as b, \
            with_metadata(a, b) as (meta_a, meta_b):
        await b.connect(a.listen_addrs()[0])
        assert await meta_a.wait_for_peer(b.peer_id) == Metadata(1, (0, 3))
        assert await meta_b.wait_for_peer(a.peer_id) == Metadata(1, (0,))
        await trio.sleep(0.5)
        assert a.peer_id in b.connected_peer_ids() and b.peer_id in a.connected_peer_ids()
        assert meta_a.statistics()["queries"] == {"same_cluster": 1}
        assert meta_a.statistics()["shards"] == [0] and meta_a.statistics()["disconnected"] == 0


async def test_peers_of_another_cluster_are_disconnected(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, "a")) as a, \
            open_node(local_config(tmp_path, "other", cluster_id=2)) as other, \
            with_metadata(a, other) as (meta_a, meta_other):
        await other.connect(a.listen_addrs()[0])
        await wait_disconnected(a, other.peer_id)
        await wait_disconnected(other, a.peer_id)
        # both sides ask; whichever hears the answer first hangs up, the other may find it gone
        assert meta_a.statistics()["disconnected"] + meta_other.statistics()["disconnected"] >= 1
        assert meta_a.peer_metadata(other.peer_id) is None


async def test_a_peer_without_metadata_is_kept(tmp_path: Path) -> None:
    host = build_host(generate_key_pair("ed25519"))
    async with open_node(local_config(tmp_path, "a")) as a, with_metadata(a) as (meta_a,), \
            host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            await host.connect(info_from_p2p_addr(Multiaddr(a.listen_addrs()[0])))
            with trio.fail_after(10):
                while not meta_a.statistics()["queries"]:
                    await trio.sleep(0.05)
            assert meta_a.statistics()["queries"] == {"no_answer": 1}
            assert str(host.get_id()) in a.connected_peer_ids()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await host.close()


async def test_light_node_announces_no_shards_and_answers_garbage_truthfully(tmp_path: Path) -> None:
    async with open_node(local_config(tmp_path, "a", shards=(2, 5))) as a, \
            open_node(local_config(tmp_path, "light", relay=None)) as light, \
            with_metadata(a, light) as (meta_a, meta_light):
        await light.connect(a.listen_addrs()[0])
        assert await meta_a.wait_for_peer(light.peer_id) == Metadata(1, ())
        assert await meta_light.wait_for_peer(a.peer_id) == Metadata(1, (2, 5))
        for junk in (b"\xff\xff\xff", b"\x08"):
            _, answer = await request(light.host, a.peer_id, (METADATA_PROTOCOL,), junk, codec.MAX_METADATA_BYTES)
            assert codec.decode_response(answer) == Metadata(1, (2, 5))
        _, answer = await request(light.host, a.peer_id, (METADATA_PROTOCOL,),
                                  bytes(codec.MAX_METADATA_BYTES + 1), codec.MAX_METADATA_BYTES)
        assert codec.decode_response(answer) == Metadata(1, (2, 5))
        server = meta_a.statistics()["server"]
        assert server["refusals"] == {"status_400": 2, "status_413": 1}


async def test_a_flooding_peer_is_rate_limited_while_others_are_served(tmp_path: Path) -> None:
    from w3msg_libp2p.protocols.metadata.service import METADATA_RATE_LIMIT

    async with open_node(local_config(tmp_path, "a")) as a, open_node(local_config(tmp_path, "b")) as b, \
            open_node(local_config(tmp_path, "c")) as c:
        await b.connect(a.listen_addrs()[0])
        await c.connect(a.listen_addrs()[0])
        ask = codec.encode_request(Metadata(1, ()))
        answers = [(await request(b.host, a.peer_id, (METADATA_PROTOCOL,), ask, 1024))[1]
                   for _ in range(METADATA_RATE_LIMIT.capacity + 3)]
        assert any(codec.decode_response(x).cluster_id == 1 for x in answers)
        assert a.metadata.server.stats.refusals["rate_limited"] >= 2
        served = (await request(c.host, a.peer_id, (METADATA_PROTOCOL,), ask, 1024))[1]
        assert codec.decode_response(served).cluster_id == 1
