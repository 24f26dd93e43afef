"""Store v3 between real nodes on 127.0.0.1: A relays and stores, others query A over
/vac/waku/store-query/3.0.0."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.integration.conftest import TOPIC, local_config
from w3msg_libp2p.core.message import Envelope, WakuMessage, message_hash
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.reqresp import request
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import StoreConfig
from w3msg_libp2p.protocols.store.client import StoreClient, StoreQueryError
from w3msg_libp2p.protocols.store.codec import MAX_QUERY_BYTES, decode_response, encode_query
from w3msg_libp2p.protocols.store.rpc import STORE_PROTOCOL_ID, StoreEntry, StoreQuery

CHAT = "/storetest/1/chat/proto"
OTHER = "/storetest/1/other/proto"


@asynccontextmanager
async def store_and_clients(tmp_path: Path, clients: int = 1, **store: Any) -> AsyncIterator[list[Node]]:
    """Node A (relay + store) and ``clients`` relay nodes connected to it, meshes formed."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_node(local_config(tmp_path, "a", store=StoreConfig(**store))))
        others = [await stack.enter_async_context(open_node(local_config(tmp_path, f"c{i}")))
                  for i in range(clients)]
        for node in others:
            await node.connect(a.listen_addrs()[0])
            assert node.relay is not None
            await node.relay.wait_for_mesh(TOPIC)
        assert a.relay is not None
        await a.relay.wait_for_mesh(TOPIC, peers=clients)
        yield [a, *others]


async def publish(node: Node, payloads: list[bytes], content_topic: str = CHAT, start: int | None = None,
                  **fields: Any) -> list[tuple[bytes, WakuMessage]]:
    """Publish on the relay, timestamps 1 ms apart; returns (hash, message) in order."""
    assert node.relay is not None
    base = start if start is not None else time.time_ns()
    out = []
    for i, payload in enumerate(payloads):
        msg = WakuMessage(payload, content_topic, timestamp=base + i * 1_000_000, **fields)
        out.append((await node.relay.publish(TOPIC, msg), msg))
    return out


async def wait_stored(store_node: Node, count: int, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while store_node.store.statistics()["stored"] < count:
            await trio.sleep(0.01)
    await store_node.store.wait_idle()


async def collect(client: StoreClient, peer: str, query: StoreQuery) -> list[list[StoreEntry]]:
    return [list(page.messages) async for page in client.pages(peer, query)]


async def test_history_pages_forward_and_backward_with_own_publishes(tmp_path: Path, store_url: str) -> None:
    """On both backends (``store_url``: SQLite and PostgreSQL, from this folder's conftest)."""
    async with store_and_clients(tmp_path, url=store_url) as (a, b):
        start = time.time_ns()
        sent = await publish(b, [b"b%d" % i for i in range(23)], start=start)
        await publish(b, [b"other%d" % i for i in range(4)], OTHER, start=start + 500_000)
        own = await publish(a, [b"a%d" % i for i in range(3)], start=start + 100_000_000)  # the store's own
        await wait_stored(a, 30)
        expected = sorted([*sent, *own], key=lambda hm: (hm[1].timestamp, hm[0]))
        client, peer = StoreClient(b.host), a.peer_id
        window = StoreQuery(pubsub_topic=TOPIC, content_topics=(CHAT,), time_start=start + 2_000_000,
                            time_end=start + 100_000_000 + 1_000_000, limit=7)  # both ends inclusive
        in_window = expected[2:-1]
        forward = await collect(client, peer, window)
        assert [len(p) for p in forward] == [7, 7, 7, 2]
        assert [e.message_hash for p in forward for e in p] == [h for h, _ in in_window]
        assert [(e.message, e.pubsub_topic) for p in forward for e in p] == [(m, TOPIC) for _, m in in_window]
        backward = await collect(client, peer, replace(window, forward=False))
        assert [len(p) for p in backward] == [7, 7, 7, 2]
        assert [e.message_hash for p in reversed(backward) for e in p] == [h for h, _ in in_window]
        assert [e.message_hash for e in backward[0]] == [h for h, _ in in_window[-7:]]  # newest page first


async def test_lookups_hashes_only_limits_and_request_ids(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path, max_page_size=5, default_page_size=3) as (a, b):
        sent = await publish(b, [b"m%d" % i for i in range(8)])
        await wait_stored(a, 8)
        client, peer = StoreClient(b.host), a.peer_id
        wanted = [sent[6][0], sent[1][0], b"\x55" * 32]  # the last is not stored
        found = await client.query(peer, StoreQuery(request_id="lookup-1", message_hashes=tuple(wanted)))
        assert found.request_id == "lookup-1"
        assert [(e.message_hash, e.message) for e in found.messages] == [sent[1], sent[6]]
        presence = await client.query(peer, StoreQuery(include_data=False, message_hashes=tuple(wanted)))
        assert presence.messages == (StoreEntry(sent[1][0]), StoreEntry(sent[6][0]))
        default = await client.query(peer, StoreQuery(pubsub_topic=TOPIC, content_topics=(CHAT,)))
        assert len(default.messages) == 3 and default.cursor == default.messages[-1].message_hash
        capped = await client.query(peer, StoreQuery(pubsub_topic=TOPIC, content_topics=(CHAT,), limit=1000))
        assert len(capped.messages) == 5  # capped at the store's maximum, not refused
        assert capped.request_id and capped.request_id != default.request_id  # fresh ids, echoed


async def test_bad_requests_are_400_and_counted(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path) as (a, b):
        client, peer = StoreClient(b.host), a.peer_id
        with pytest.raises(StoreQueryError) as info:
            await client.query(peer, StoreQuery(request_id="mixed", content_topics=(CHAT,)))
        assert info.value.status_code == 400 and info.value.response.request_id == "mixed"
        assert "without pubsub_topic" in info.value.response.status_desc
        with pytest.raises(StoreQueryError) as info:
            await client.query(peer, StoreQuery(cursor=b"\x01" * 32))
        assert info.value.status_code == 400 and "cursor not found" in info.value.response.status_desc
        for garbage in (b"\xff\xff\xff\xff", encode_query(StoreQuery(request_id="r"))[:-1] + b"\x0a\x10"):
            _, raw = await request(b.host, peer, (STORE_PROTOCOL_ID,), garbage, 10_000)
            answer = decode_response(raw)
            assert answer.status_code == 400 and answer.status_desc.startswith("BAD_REQUEST")
        _, raw = await request(b.host, peer, (STORE_PROTOCOL_ID,), b"\x0a" * (MAX_QUERY_BYTES + 1), 10_000)
        assert decode_response(raw).status_code == 413
        stats = a.store.statistics()
        assert stats["refusals"] == {"status_400": 4, "status_413": 1}
        # the store still serves
        assert (await client.query(peer, StoreQuery(pubsub_topic=TOPIC))).status_code == 200


async def test_a_flooding_peer_gets_429_while_another_is_served(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path, clients=2, rate_limit=RateLimit(5, 60.0)) as (a, flooder, other):
        flood, calm = StoreClient(flooder.host), StoreClient(other.host)
        query = StoreQuery(pubsub_topic=TOPIC)
        statuses = []
        for _ in range(8):
            try:
                statuses.append((await flood.query(a.peer_id, query)).status_code)
            except StoreQueryError as exc:
                statuses.append(exc.status_code)
                assert exc.response.status_desc.startswith("TOO_MANY_REQUESTS")
        assert statuses == [200] * 5 + [429] * 3
        assert (await calm.query(a.peer_id, query)).status_code == 200
        assert a.store.statistics()["refusals"] == {"rate_limited": 3}


async def test_ephemeral_messages_are_not_stored(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path) as (a, b):
        ephemeral = await publish(b, [b"gone"], ephemeral=True)
        kept = await publish(b, [b"kept"], ephemeral=False)
        await wait_stored(a, 1)
        await a.store.wait_idle()
        client = StoreClient(b.host)
        everything = await client.query(a.peer_id, StoreQuery(pubsub_topic=TOPIC))
        assert [e.message_hash for e in everything.messages] == [kept[0][0]]
        assert (await client.query(a.peer_id, StoreQuery(message_hashes=(ephemeral[0][0],)))).messages == ()
        assert a.store.statistics()["ephemeral_skipped"] == 1


async def test_duplicate_deliveries_are_stored_once(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path) as (a, b), open_node(local_config(tmp_path, "late")) as late:
        msg = WakuMessage(b"same", CHAT, timestamp=time.time_ns())
        assert b.relay is not None and late.relay is not None and a.relay is not None
        first = await b.relay.publish(TOPIC, msg)
        await wait_stored(a, 1)
        # a peer that missed it publishes the very same message later
        await late.connect(a.listen_addrs()[0])
        await late.relay.wait_for_mesh(TOPIC)
        assert await late.relay.publish(TOPIC, msg) == first
        # and the store's tracer sees it twice more (as after a relay seen-cache expiry)
        env = Envelope(TOPIC, msg, message_hash(TOPIC, msg), b.peer_id, time.time_ns())
        for tracer in a.relay.tracers:
            tracer(env)
            tracer(env)
        await a.store.wait_idle()
        answer = await StoreClient(b.host).query(a.peer_id, StoreQuery(pubsub_topic=TOPIC))
        assert [e.message_hash for e in answer.messages] == [first]
        stats = a.store.statistics()
        assert stats["stored"] == 1 and stats["duplicates"] >= 2


async def test_a_full_ingest_queue_drops_and_counts(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path) as (a, _):
        assert a.relay is not None
        msg = WakuMessage(b"flood", CHAT, timestamp=time.time_ns())
        env = Envelope(TOPIC, msg, message_hash(TOPIC, msg), None, time.time_ns())
        capacity = a.store.queue.capacity
        tracers = list(a.relay.tracers)
        for _ in range(capacity + 10):  # no checkpoint in between: the writer cannot drain
            for tracer in tracers:
                tracer(env)
        stats = a.store.statistics()
        assert stats["drops"]["store_queue_full"] == 10 and stats["queue_depth"] == capacity
        assert a.relay.statistics()["drops"]["store_queue_full"] == 10
        await a.store.wait_idle(timeout=60)
        assert a.store.statistics()["stored"] == 1


async def test_retention_runs_on_its_interval(tmp_path: Path) -> None:
    async with store_and_clients(tmp_path, max_messages=3, retention_interval=0.1) as (a, b):
        sent = await publish(b, [b"r%d" % i for i in range(6)])
        await wait_stored(a, 6)
        client = StoreClient(b.host)
        with trio.fail_after(10):
            while True:
                answer = await client.query(a.peer_id, StoreQuery(pubsub_topic=TOPIC))
                if len(answer.messages) == 3:
                    break
                await trio.sleep(0.05)
        assert [e.message_hash for e in answer.messages] == [h for h, _ in sent[3:]]
        assert a.store.statistics()["retention"]["deleted"] >= 3
