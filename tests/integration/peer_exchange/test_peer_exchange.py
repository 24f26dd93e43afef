"""Peer exchange between real nodes on 127.0.0.1."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from w3msg_libp2p.core.enr import Capabilities, RelayShards, parse_enr
from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.reqresp import request
from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.enr import LocalEnr
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import PeerExchangeConfig
from w3msg_libp2p.protocols.peer_exchange.client import PeerExchangeClient
from w3msg_libp2p.protocols.peer_exchange.codec import MAX_REQUEST_BYTES, decode_response
from w3msg_libp2p.protocols.peer_exchange.rpc import PROTOCOL_ID

from ..conftest import local_config


async def _start(stack: AsyncExitStack, config: NodeConfig) -> Node:
    return await stack.enter_async_context(open_node(config))


async def test_a_learns_c_through_b_and_dials_it(tmp_path: Path) -> None:
    px = PeerExchangeConfig()
    async with AsyncExitStack() as stack:
        a, b, c = [await _start(stack, local_config(tmp_path, name, peer_exchange=px)) for name in "abc"]
        await b.connect(c.listen_addrs()[0])
        # B's refresh loop asks C (identified as a peer exchange server) and caches C's own record.
        with trio.fail_after(20):
            while c.peer_id not in {e.peer_id for e in b.peer_exchange.known_enrs()}:
                await trio.sleep(0.1)
        await a.connect(b.listen_addrs()[0])
        enrs = await a.peer_exchange.request(b.peer_id, 5)
        by_peer = {e.peer_id: e for e in enrs}
        assert set(by_peer) == {b.peer_id, c.peer_id}  # C from B's cache, and B's own record
        c_enr = by_peer[c.peer_id]
        assert c_enr.ip == "127.0.0.1"
        assert c_enr.waku2 is not None and Capabilities.RELAY in c_enr.waku2
        assert c_enr.relay_shards == RelayShards(1, (0,))
        # A was never told C's address except through the record: dial it from there.
        assert c.peer_id not in a.connected_peer_ids()
        assert await a.connect(c_enr.dial_addrs()[0]) == c.peer_id
        assert c.peer_id in a.connected_peer_ids()
        # and it sits in A's peerstore, so dialing by peer id alone works too
        assert a.host.get_peerstore().addrs(ID.from_base58(c.peer_id))
        stats = a.peer_exchange.statistics()
        assert stats["client"]["enrs_accepted"] >= 2 and not stats["client"]["enrs_skipped"]
        assert parse_enr(stats["enr"]).peer_id == a.peer_id


async def test_a_flooding_peer_gets_429_while_another_is_served(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        server = await _start(stack, local_config(tmp_path, "server", peer_exchange=PeerExchangeConfig(
            rate_limit=RateLimit(3, 60.0))))
        flooder, other = [await _start(stack, local_config(tmp_path, n)) for n in ("flooder", "other")]
        for node in (flooder, other):
            await node.connect(server.listen_addrs()[0])
        flood, polite = PeerExchangeClient(flooder.host), PeerExchangeClient(other.host)
        for _ in range(3):
            assert [e.peer_id for e in await flood.request(server.peer_id, 5)] == [server.peer_id]
        with pytest.raises(RemoteProtocolError) as info:
            await flood.request(server.peer_id, 5)
        assert info.value.status_code == 429
        assert [e.peer_id for e in await polite.request(server.peer_id, 5)] == [server.peer_id]
        assert flood.stats.failures == {"status_429": 1}
        assert server.peer_exchange.statistics()["server"]["refusals"] == {"rate_limited": 1}


async def test_malformed_and_oversized_requests_are_refused_and_counted(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        server = await _start(stack, local_config(tmp_path, "server", peer_exchange=PeerExchangeConfig()))
        client = await _start(stack, local_config(tmp_path, "client"))
        await client.connect(server.listen_addrs()[0])
        for payload, status in ((b"\xff\xff\xff", 400), (b"\x0a" * (MAX_REQUEST_BYTES + 1), 413)):
            _, data = await request(client.host, server.peer_id, (PROTOCOL_ID,), payload, 4096)
            response = decode_response(data)
            assert (response.status_code, response.enrs) == (status, ())
        refusals = server.peer_exchange.statistics()["server"]["refusals"]
        assert refusals == {"status_400": 1, "status_413": 1}
        # the server keeps serving
        assert [e.peer_id for e in await PeerExchangeClient(client.host).request(server.peer_id)] == [server.peer_id]


async def test_node_record_reflects_the_node_and_ed25519_nodes_have_none(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        node = await _start(stack, local_config(tmp_path, "secp", peer_exchange=PeerExchangeConfig(),
                                                listen=("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws")))
        enr = node.peer_exchange.local_enr.current()
        assert enr is not None and enr.peer_id == node.peer_id
        tcp_addr = next(a for a in node.listen_addrs() if "/ws" not in a)
        ws_addr = next(a for a in node.listen_addrs() if "/ws" in a)
        assert enr.dial_addrs() == [tcp_addr, ws_addr]
        assert enr.waku2 == Capabilities.RELAY
        assert enr.relay_shards == RelayShards(1, (0,))
        assert node.peer_exchange.local_enr.refresh() is enr  # unchanged content: same record
        node.relay.subscribe("/waku/2/rs/1/3")  # type: ignore[union-attr]
        updated = node.peer_exchange.local_enr.refresh()
        assert updated is not None and updated.seq > enr.seq and updated.relay_shards == RelayShards(1, (0, 3))

        ed = await _start(stack, local_config(tmp_path, "ed", key_type="ed25519", peer_exchange=PeerExchangeConfig()))
        assert LocalEnr(ed).current() is None
        # an ed25519 node still serves what it learned, just never a record of itself
        await ed.connect(node.listen_addrs()[0])
        learned = await ed.peer_exchange.request(node.peer_id, 5)
        assert [e.peer_id for e in learned] == [node.peer_id]
        served = await PeerExchangeClient(node.host).request(ed.peer_id, 5)
        assert served == []  # the only record ed knows is the requester's own
