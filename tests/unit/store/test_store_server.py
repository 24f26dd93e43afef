"""The pure store server (query -> archive -> response) against the real SQLite archive,
and the pure ingest rules (what is stored, the bounded queue)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.message import Envelope, WakuMessage, message_hash
from w3msg_libp2p.protocols.store.archive import Archive, ArchiveError, StoredMessage
from w3msg_libp2p.protocols.store.codec import decode_response, encode_query
from w3msg_libp2p.protocols.store.ingest import IngestQueue, retention_policy, stored_message, stored_messages
from w3msg_libp2p.protocols.store.open_archive import open_archive
from w3msg_libp2p.protocols.store.rpc import StoreEntry, StoreQuery, StoreResponse
from w3msg_libp2p.protocols.store.server import (
    StoreLimits,
    StoreServer,
    archive_failure_status,
    page_size,
    status_desc,
)
from w3msg_libp2p.protocols.store.sqlite_archive import SqliteArchive

T0 = "/waku/2/rs/1/0"
T1 = "/waku/2/rs/1/1"
CHAT = "/app/1/chat/proto"
NEWS = "/app/1/news/proto"
BASE = 1_700_000_000_000_000_000


def make(pubsub: str, content: str, ts: int | None, payload: bytes, ephemeral: bool | None = None) -> Envelope:
    msg = WakuMessage(payload, content, timestamp=ts, ephemeral=ephemeral)
    return Envelope(pubsub, msg, message_hash(pubsub, msg), "peer", BASE + 10**12)


# 150 chat messages on T0 (two share a timestamp: the hash breaks the tie), 10 news on T0,
# 5 chat on T1.
CHAT_T0 = [make(T0, CHAT, BASE + i * 1000 - (1000 if i == 7 else 0), b"chat%d" % i) for i in range(150)]
NEWS_T0 = [make(T0, NEWS, BASE + i * 1000 + 500, b"news%d" % i) for i in range(10)]
CHAT_T1 = [make(T1, CHAT, BASE + i * 1000 + 200, b"t1-%d" % i) for i in range(5)]
ALL = CHAT_T0 + NEWS_T0 + CHAT_T1


def order(envs: list[Envelope]) -> list[Envelope]:
    return sorted(envs, key=lambda e: (e.message.timestamp or 0, e.hash))


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    store = open_archive(None, tmp_path)
    try:
        store.put(stored_messages(ALL))
        yield store
    finally:
        store.close()


@pytest.fixture
def server() -> StoreServer:
    return StoreServer(StoreLimits())


def ask(server: StoreServer, archive: Archive, query: StoreQuery) -> StoreResponse:
    """The whole wire path: encode the query, handle it, decode what goes back."""
    response = server.handle(encode_query(query), archive.query)
    decoded = decode_response(server.encode(response))
    assert decoded == response
    return decoded


def all_pages(server: StoreServer, archive: Archive, query: StoreQuery) -> list[StoreResponse]:
    pages = []
    for i in range(100):
        response = ask(server, archive, replace(query, request_id=f"r{i}"))
        assert response.status_code == 200, response.status_desc
        pages.append(response)
        if response.cursor is None:
            return pages
        query = replace(query, cursor=response.cursor)
    raise AssertionError("pagination did not end")


def hashes(entries: tuple[StoreEntry, ...]) -> list[bytes]:
    return [e.message_hash for e in entries]


# -- paging ----------------------------------------------------------------------------------------
def test_forward_pages_by_content_topic_and_time_range(server: StoreServer, archive: Archive) -> None:
    start, end = BASE + 10_000, BASE + 99_000  # both bounds inclusive (nwaku)
    query = StoreQuery(request_id="x", pubsub_topic=T0, content_topics=(CHAT,), time_start=start,
                       time_end=end, forward=True, limit=25)
    pages = all_pages(server, archive, query)
    expected = [e for e in order(CHAT_T0) if start <= (e.message.timestamp or 0) <= end]
    assert len(expected) == 90
    assert [len(p.messages) for p in pages] == [25, 25, 25, 15]
    got = [h for p in pages for h in hashes(p.messages)]
    assert got == [e.hash for e in expected]
    for page in pages[:-1]:
        assert page.cursor == page.messages[-1].message_hash  # the last entry included
    assert pages[-1].cursor is None


def test_backward_pages_are_each_oldest_first(server: StoreServer, archive: Archive) -> None:
    query = StoreQuery(request_id="x", pubsub_topic=T0, content_topics=(CHAT,), forward=False, limit=40)
    pages = all_pages(server, archive, query)
    assert [len(p.messages) for p in pages] == [40, 40, 40, 30]
    expected = [e.hash for e in order(CHAT_T0)]
    assert hashes(pages[0].messages) == expected[-40:]  # the newest page first
    assert [h for p in reversed(pages) for h in hashes(p.messages)] == expected
    for page in pages[:-1]:
        assert page.cursor == page.messages[0].message_hash  # the oldest entry of the page


def test_several_content_topics_and_pubsub_topic_only(server: StoreServer, archive: Archive) -> None:
    both = all_pages(server, archive, StoreQuery(request_id="x", pubsub_topic=T0, content_topics=(CHAT, NEWS),
                                                 limit=100))
    assert [h for p in both for h in hashes(p.messages)] == [e.hash for e in order(CHAT_T0 + NEWS_T0)]
    shard = all_pages(server, archive, StoreQuery(request_id="y", pubsub_topic=T1, limit=100))
    assert [h for p in shard for h in hashes(p.messages)] == [e.hash for e in order(CHAT_T1)]
    everything = all_pages(server, archive, StoreQuery(request_id="z", limit=100))
    assert sum(len(p.messages) for p in everything) == len(ALL)


def test_include_data_returns_messages_with_their_pubsub_topic(server: StoreServer, archive: Archive) -> None:
    response = ask(server, archive, StoreQuery(request_id="x", pubsub_topic=T1, content_topics=(CHAT,)))
    assert [(e.message, e.pubsub_topic) for e in response.messages] == [(e.message, T1) for e in order(CHAT_T1)]
    hashes_only = ask(server, archive, StoreQuery(request_id="x", pubsub_topic=T1, content_topics=(CHAT,),
                                                  include_data=False))
    assert hashes_only.messages == tuple(StoreEntry(e.hash) for e in order(CHAT_T1))


def test_limit_defaults_to_20_and_is_capped_at_100(server: StoreServer, archive: Archive) -> None:
    for limit in (None, 0):
        response = ask(server, archive, StoreQuery(request_id="x", limit=limit))
        assert len(response.messages) == 20 and response.cursor is not None
    capped = ask(server, archive, StoreQuery(request_id="x", limit=1000))
    assert capped.status_code == 200 and len(capped.messages) == 100
    assert page_size(7, StoreLimits()) == 7 and page_size(None, StoreLimits(default_page_size=5)) == 5


def test_request_id_is_echoed(server: StoreServer, archive: Archive) -> None:
    assert ask(server, archive, StoreQuery(request_id="abc-123", limit=1)).request_id == "abc-123"
    refused = ask(server, archive, StoreQuery(request_id="abc-456", content_topics=(CHAT,)))
    assert (refused.request_id, refused.status_code) == ("abc-456", 400)


def test_after_the_last_page_an_empty_page(server: StoreServer, archive: Archive) -> None:
    """js-waku pages on with the last hash it saw until a page comes back empty."""
    newest = order(CHAT_T1)[-1].hash
    response = ask(server, archive, StoreQuery(request_id="x", pubsub_topic=T1, content_topics=(CHAT,),
                                               cursor=newest, forward=True))
    assert (response.status_code, response.messages, response.cursor) == (200, (), None)


# -- hash lookups ----------------------------------------------------------------------------------
def test_hash_lookup_returns_the_stored_ones_in_order(server: StoreServer, archive: Archive) -> None:
    wanted = [CHAT_T1[3], NEWS_T0[0], CHAT_T0[42]]
    unknown = b"\x42" * 32
    response = ask(server, archive, StoreQuery(request_id="x", message_hashes=(unknown, *(e.hash for e in wanted))))
    assert hashes(response.messages) == [e.hash for e in order(wanted)]
    assert response.messages[0].message == order(wanted)[0].message
    presence = ask(server, archive, StoreQuery(request_id="x", include_data=False,
                                               message_hashes=tuple(e.hash for e in wanted)))
    assert presence.messages == tuple(StoreEntry(e.hash) for e in order(wanted))
    # js-waku sends the pubsub topic along with hashes: it narrows the lookup
    on_t0 = ask(server, archive, StoreQuery(request_id="x", pubsub_topic=T0,
                                            message_hashes=tuple(e.hash for e in wanted)))
    assert hashes(on_t0.messages) == [e.hash for e in order(wanted[1:])]


def test_hash_lookup_pages(server: StoreServer, archive: Archive) -> None:
    wanted = tuple(e.hash for e in CHAT_T0[:30])
    pages = all_pages(server, archive, StoreQuery(request_id="x", message_hashes=wanted, limit=20))
    assert [len(p.messages) for p in pages] == [20, 10]
    assert [h for p in pages for h in hashes(p.messages)] == [e.hash for e in order(CHAT_T0[:30])]


# -- bad requests ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("query", "why"), [
    (StoreQuery(request_id=""), "request_id is missing"),
    (StoreQuery(request_id="x", content_topics=(CHAT,)), "without pubsub_topic"),
    (StoreQuery(request_id="x", message_hashes=(b"\x01" * 32,), pubsub_topic=T0, content_topics=(CHAT,)),
     "cannot be combined"),
    (StoreQuery(request_id="x", message_hashes=(b"\x01" * 32,), time_start=1), "cannot be combined"),
    (StoreQuery(request_id="x", message_hashes=(b"\x01" * 31,)), "invalid message hash length: 31"),
    (StoreQuery(request_id="x", cursor=b"\x01" * 33), "invalid cursor hash length: 33"),
    (StoreQuery(request_id="x", cursor=bytes(32)), "all zeroes cursor"),
    (StoreQuery(request_id="x", cursor=b"\x09" * 32), "cursor not found"),
    (StoreQuery(request_id="x", pubsub_topic=T0, content_topics=tuple(f"/a/1/{i}/p" for i in range(101))),
     "101 content topics"),
    (StoreQuery(request_id="x", message_hashes=tuple(i.to_bytes(32, "big") for i in range(1001))),
     "1001 message hashes"),
])
def test_bad_requests_are_400(server: StoreServer, archive: Archive, query: StoreQuery, why: str) -> None:
    response = ask(server, archive, query)
    assert response.status_code == 400
    assert response.status_desc.startswith("BAD_REQUEST: ") and why in response.status_desc
    assert response.request_id == query.request_id
    assert response.messages == () and response.cursor is None


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe"])
def test_malformed_protobuf_is_400(server: StoreServer, archive: Archive, garbage: bytes) -> None:
    response = decode_response(server.encode(server.handle(garbage, archive.query)))
    assert response.status_code == 400 and "decoding request failed" in response.status_desc
    assert response.request_id == ""


# -- archive failures ------------------------------------------------------------------------------
def test_a_database_that_cannot_serve_is_503(server: StoreServer, tmp_path: Path) -> None:
    """Another process breaks the database under a running archive: the query fails with the
    driver's OperationalError, which the store reports as 503 (not the requester's fault)."""
    path = tmp_path / "broken.sqlite3"
    store = SqliteArchive(path)
    try:
        store.put(stored_messages(CHAT_T1))
        assert ask(server, store, StoreQuery(request_id="x")).status_code == 200
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE store_messages")
        response = ask(server, store, StoreQuery(request_id="x", limit=5))
        assert (response.status_code, response.request_id) == (503, "x")
        assert response.status_desc == "SERVICE_UNAVAILABLE: archive query failed"
    finally:
        store.close()


def test_a_closed_archive_is_500(server: StoreServer, tmp_path: Path) -> None:
    store = SqliteArchive(tmp_path / "closed.sqlite3")
    store.close()
    response = ask(server, store, StoreQuery(request_id="x"))
    assert (response.status_code, response.request_id) == (500, "x")


def test_failure_classification() -> None:
    def chained(outer: Exception, cause: BaseException) -> Exception:
        outer.__cause__ = cause
        return outer

    assert archive_failure_status(chained(ArchiveError("x"), sqlite3.OperationalError("locked"))) == 503
    assert archive_failure_status(chained(ArchiveError("x"), OSError(28, "No space left"))) == 503
    assert archive_failure_status(chained(ArchiveError("x"), sqlite3.DatabaseError("not a database"))) == 500
    assert archive_failure_status(KeyError("bug")) == 500
    assert status_desc(200, "ignored") == "OK"
    assert status_desc(429) == "TOO_MANY_REQUESTS"
    assert status_desc(400, "why") == "BAD_REQUEST: why"
    assert status_desc(999, "odd") == "UNKNOWN: odd"


# -- ingest --------------------------------------------------------------------------------------------
def test_stored_message_keeps_hash_and_falls_back_to_receive_time() -> None:
    env = make(T0, CHAT, None, b"no timestamp")
    row = stored_message(env)
    assert row == StoredMessage(env.hash, T0, CHAT, env.received_at_ns, encode_message(env.message))
    assert env.hash == message_hash(T0, env.message)  # hashed with timestamp 0, stored at receive time
    assert stored_message(make(T0, CHAT, 5, b"x")).timestamp == 5


def test_ingest_queue_skips_ephemeral_bounds_and_batches() -> None:
    queue = IngestQueue(capacity=3, max_batch=2)
    assert not queue.offer(make(T0, CHAT, 1, b"e", ephemeral=True))
    accepted = [queue.offer(make(T0, CHAT, i, b"m%d" % i)) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert (queue.stats.ephemeral, queue.stats.queue_full, len(queue)) == (1, 2, 3)
    first = queue.take_batch()
    assert [e.message.timestamp for e in first] == [0, 1] and len(queue) == 1
    assert [e.message.timestamp for e in queue.take_batch()] == [2] and queue.take_batch() == []


def test_duplicates_are_stored_once(tmp_path: Path) -> None:
    store = open_archive(None, tmp_path)
    try:
        queue = IngestQueue()
        batch = [CHAT_T1[0], CHAT_T1[1], CHAT_T1[0]]
        rows = stored_messages(batch)
        assert len(rows) == 2
        queue.record_write(len(batch), store.put(rows))
        queue.record_write(1, store.put(stored_messages([CHAT_T1[1]])))
        assert (queue.stats.stored, queue.stats.duplicates, store.count()) == (2, 2, 2)
    finally:
        store.close()


def test_retention_policy_from_config() -> None:
    policy = retention_policy(2.5, 10, None)
    assert (policy.max_age_ns, policy.max_messages, policy.max_bytes) == (2_500_000_000, 10, None)
