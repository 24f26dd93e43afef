"""One behaviour suite for every archive backend (SQLite and PostgreSQL, via ``store_url``).

Each test states what a store client can observe: what put() reports, which messages a query
returns in which order, how pages chain through cursors, what retention keeps. The expected
answers come from a plain Python model (sort by (timestamp, hash), filter), never from the
backend under test.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.protocols.store import sql
from w3msg_libp2p.protocols.store.archive import (
    Archive,
    ArchiveError,
    ArchiveQuery,
    RetentionPolicy,
    StoredMessage,
    UnknownCursor,
)
from w3msg_libp2p.protocols.store.open_archive import open_archive
from w3msg_libp2p.protocols.store.sqlite_archive import SqliteArchive

PUBSUB = "/waku/2/rs/1/0"
OTHER_PUBSUB = "/waku/2/rs/1/1"
CHAT = "/app/1/chat/proto"
NEWS = "/app/1/news/proto"
MISC = "/app/1/misc/proto"
_serial = itertools.count()


def msg(timestamp: int, content_topic: str = CHAT, pubsub_topic: str = PUBSUB, size: int = 16,
        hash_: bytes | None = None) -> StoredMessage:
    n = next(_serial)
    data = hashlib.sha256(b"data%d" % n).digest() * (size // 32 + 1)
    return StoredMessage(hash=hash_ or hashlib.sha256(b"hash%d" % n).digest(), pubsub_topic=pubsub_topic,
                         content_topic=content_topic, timestamp=timestamp, data=data[:size])


def ordered(messages: Iterable[StoredMessage]) -> list[StoredMessage]:
    return sorted(messages, key=lambda m: (m.timestamp, m.hash))


def page_all(archive: Archive, query: ArchiveQuery) -> list[list[StoredMessage]]:
    """Follow cursors from the first page to the last; returns the pages (bounded loop)."""
    pages, cursor = [], None
    for _ in range(10_000):
        page = archive.query(ArchiveQuery(**{**_fields(query), "cursor": cursor}))
        pages.append(page.messages)
        if page.cursor is None:
            return pages
        cursor = page.cursor
    raise AssertionError("paging did not end")


def _fields(query: ArchiveQuery) -> dict[str, object]:
    return {name: getattr(query, name) for name in ArchiveQuery.__dataclass_fields__}


def hashes(messages: Iterable[StoredMessage]) -> list[bytes]:
    return [m.hash for m in messages]


# --- put ---------------------------------------------------------------------------------------

def test_put_counts_new_messages_and_skips_stored_hashes(archive: Archive) -> None:
    batch = [msg(10), msg(20), msg(30)]
    assert archive.put(batch) == 3
    assert archive.put(batch) == 0
    assert archive.put([batch[0], msg(40), msg(50)]) == 2
    duplicate = msg(60)
    assert archive.put([duplicate, duplicate, msg(70)]) == 2  # duplicates within one batch too
    assert archive.put([]) == 0
    assert archive.count() == 7


def test_stored_fields_round_trip_exactly(archive: Archive) -> None:
    original = [msg(-5), msg(0), msg(2**63 - 1, NEWS, OTHER_PUBSUB, size=0), msg(7, size=1000)]
    archive.put(original)
    page = archive.query(ArchiveQuery(limit=100))
    assert page.messages == ordered(original)
    assert page.cursor is None


def test_a_rejected_duplicate_keeps_the_first_copy(archive: Archive) -> None:
    first = msg(100)
    archive.put([first])
    imposter = StoredMessage(first.hash, OTHER_PUBSUB, NEWS, 5, b"other")
    assert archive.put([imposter]) == 0
    assert archive.query(ArchiveQuery(hashes=(first.hash,))).messages == [first]


def test_large_payloads_round_trip(archive: Archive) -> None:
    big = [msg(i, size=150 * 1024) for i in range(5)]
    assert archive.put(big) == 5
    page = archive.query(ArchiveQuery(limit=10))
    assert page.messages == big
    assert archive.stored_bytes() == 5 * 150 * 1024


# --- criteria ----------------------------------------------------------------------------------

@pytest.fixture
def mixed(archive: Archive) -> list[StoredMessage]:
    stored = [msg(t, ct, ps) for t in range(0, 100, 5) for ct, ps in ((CHAT, PUBSUB), (NEWS, PUBSUB),
                                                                       (CHAT, OTHER_PUBSUB), (MISC, PUBSUB))]
    archive.put(stored)
    return ordered(stored)


def expect(archive: Archive, stored: list[StoredMessage], query: ArchiveQuery,
           keep: Callable[[StoredMessage], bool]) -> None:
    page = archive.query(ArchiveQuery(**{**_fields(query), "limit": 1000}))
    assert page.messages == [m for m in stored if keep(m)]
    assert page.cursor is None


def test_query_by_pubsub_topic(archive: Archive, mixed: list[StoredMessage]) -> None:
    expect(archive, mixed, ArchiveQuery(pubsub_topic=OTHER_PUBSUB), lambda m: m.pubsub_topic == OTHER_PUBSUB)


def test_query_by_content_topics(archive: Archive, mixed: list[StoredMessage]) -> None:
    expect(archive, mixed, ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT,)),
           lambda m: m.pubsub_topic == PUBSUB and m.content_topic == CHAT)
    expect(archive, mixed, ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT, NEWS, CHAT)),
           lambda m: m.pubsub_topic == PUBSUB and m.content_topic in (CHAT, NEWS))
    expect(archive, mixed, ArchiveQuery(content_topics=(CHAT,)), lambda m: m.content_topic == CHAT)
    expect(archive, mixed, ArchiveQuery(content_topics=(CHAT, MISC)), lambda m: m.content_topic in (CHAT, MISC))
    expect(archive, mixed, ArchiveQuery(pubsub_topic=OTHER_PUBSUB, content_topics=(NEWS,)), lambda m: False)


def test_time_range_is_inclusive(archive: Archive, mixed: list[StoredMessage]) -> None:
    expect(archive, mixed, ArchiveQuery(time_start=20, time_end=40), lambda m: 20 <= m.timestamp <= 40)
    expect(archive, mixed, ArchiveQuery(time_start=21, time_end=39), lambda m: 21 <= m.timestamp <= 39)
    expect(archive, mixed, ArchiveQuery(time_start=90), lambda m: m.timestamp >= 90)
    expect(archive, mixed, ArchiveQuery(time_end=0), lambda m: m.timestamp <= 0)
    expect(archive, mixed, ArchiveQuery(time_start=50, time_end=40), lambda m: False)
    expect(archive, mixed, ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT, NEWS), time_start=10,
                                        time_end=30),
           lambda m: m.pubsub_topic == PUBSUB and m.content_topic in (CHAT, NEWS) and 10 <= m.timestamp <= 30)


def test_lookup_by_hashes_with_other_criteria(archive: Archive, mixed: list[StoredMessage]) -> None:
    wanted = {mixed[3].hash, mixed[40].hash, mixed[41].hash, mixed[77].hash, os.urandom(32)}
    expect(archive, mixed, ArchiveQuery(hashes=tuple(wanted)), lambda m: m.hash in wanted)
    expect(archive, mixed, ArchiveQuery(hashes=tuple(wanted), pubsub_topic=PUBSUB, content_topics=(CHAT, NEWS)),
           lambda m: m.hash in wanted and m.pubsub_topic == PUBSUB and m.content_topic in (CHAT, NEWS))
    expect(archive, mixed, ArchiveQuery(hashes=tuple(wanted), time_start=mixed[40].timestamp),
           lambda m: m.hash in wanted and m.timestamp >= mixed[40].timestamp)
    expect(archive, mixed, ArchiveQuery(hashes=(os.urandom(32),)), lambda m: False)


def test_hash_lookups_page_like_any_query(archive: Archive, mixed: list[StoredMessage]) -> None:
    wanted = tuple(m.hash for m in mixed[::7])
    for forward in (True, False):
        pages = page_all(archive, ArchiveQuery(hashes=wanted, limit=3, forward=forward))
        flat = [m for page in (pages if forward else reversed(pages)) for m in page]
        assert hashes(flat) == [m.hash for m in mixed if m.hash in wanted]


def test_include_data_false_returns_everything_but_the_data(archive: Archive, mixed: list[StoredMessage]) -> None:
    page = archive.query(ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT,), include_data=False, limit=5))
    expected = [m for m in mixed if m.pubsub_topic == PUBSUB and m.content_topic == CHAT][:5]
    assert [(m.hash, m.pubsub_topic, m.content_topic, m.timestamp) for m in page.messages] == [
        (m.hash, m.pubsub_topic, m.content_topic, m.timestamp) for m in expected]
    assert all(m.data == b"" for m in page.messages)
    assert page.cursor == expected[-1].hash


def test_equal_timestamps_are_ordered_by_hash(archive: Archive) -> None:
    tied = [msg(1000, hash_=bytes([b]) * 32) for b in (0x80, 0x01, 0xFF, 0x7F, 0x00)]
    archive.put(tied)
    forward = [m for page in page_all(archive, ArchiveQuery(limit=2)) for m in page]
    assert forward == ordered(tied)
    backward_pages = page_all(archive, ArchiveQuery(limit=2, forward=False))
    assert [hashes(p) for p in backward_pages] == [hashes(ordered(tied)[3:]), hashes(ordered(tied)[1:3]),
                                                    hashes(ordered(tied)[:1])]


# --- paging ------------------------------------------------------------------------------------

def test_forward_paging_visits_every_match_once(archive: Archive) -> None:
    stored = [msg(t // 3, CHAT if t % 4 else NEWS) for t in range(250)]
    archive.put(stored)
    chat = [m for m in ordered(stored) if m.content_topic == CHAT]
    pages = page_all(archive, ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT,), limit=7))
    assert [m for page in pages for m in page] == chat
    assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= 7


def test_backward_pages_run_newest_first_and_list_oldest_first(archive: Archive) -> None:
    stored = ordered(msg(t) for t in range(50))
    archive.put(stored)
    first = archive.query(ArchiveQuery(limit=20, forward=False))
    assert first.messages == stored[30:]  # the newest 20, oldest first within the page (as nwaku)
    assert first.cursor == stored[30].hash  # the last message reached, the page's first
    second = archive.query(ArchiveQuery(limit=20, forward=False, cursor=first.cursor))
    assert second.messages == stored[10:30]
    third = archive.query(ArchiveQuery(limit=20, forward=False, cursor=second.cursor))
    assert third.messages == stored[:10]
    assert third.cursor is None


def test_cursor_is_set_only_when_more_messages_match(archive: Archive) -> None:
    stored = ordered(msg(t) for t in range(40))
    archive.put(stored)
    for forward in (True, False):
        pages = page_all(archive, ArchiveQuery(limit=20, forward=forward))
        assert len(pages) == 2 and all(len(p) == 20 for p in pages)  # no empty third page
    exact = archive.query(ArchiveQuery(limit=40))
    assert exact.messages == stored and exact.cursor is None
    assert archive.query(ArchiveQuery(limit=39)).cursor == stored[38].hash


def test_paging_within_a_time_range_across_many_pages(archive: Archive) -> None:
    stored = [msg(t, (CHAT, NEWS, MISC)[t % 3]) for t in range(600)]
    archive.put(stored)
    query = ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT, MISC), time_start=100, time_end=499, limit=9)
    want = [m for m in ordered(stored) if m.content_topic in (CHAT, MISC) and 100 <= m.timestamp <= 499]
    forward = page_all(archive, query)
    assert [m for p in forward for m in p] == want
    backward = page_all(archive, ArchiveQuery(**{**_fields(query), "forward": False}))
    assert [m for p in reversed(backward) for m in p] == want
    assert all(p == ordered(p) for p in backward)


def test_a_cursor_outside_the_time_range_starts_at_the_range(archive: Archive) -> None:
    stored = ordered(msg(t) for t in range(100))
    archive.put(stored)
    early, late = stored[5].hash, stored[90].hash
    assert archive.query(ArchiveQuery(time_start=50, cursor=early, limit=3)).messages == stored[50:53]
    assert archive.query(ArchiveQuery(time_end=20, cursor=late, forward=False, limit=3)).messages == stored[18:21]
    assert archive.query(ArchiveQuery(time_end=20, cursor=late, limit=3)).messages == []


def test_unknown_cursor_raises(archive: Archive) -> None:
    stored = [msg(t) for t in range(10)]
    archive.put(stored)
    with pytest.raises(UnknownCursor):
        archive.query(ArchiveQuery(cursor=os.urandom(32)))
    page = archive.query(ArchiveQuery(limit=3))
    archive.apply_retention(RetentionPolicy(max_messages=2), now_ns=0)  # the cursor's message expires
    with pytest.raises(UnknownCursor):
        archive.query(ArchiveQuery(cursor=page.cursor, limit=3))


def test_a_limit_below_one_is_refused(archive: Archive) -> None:
    with pytest.raises(ValueError, match="limit"):
        archive.query(ArchiveQuery(limit=0))


def test_new_messages_after_the_cursor_appear_on_later_pages(archive: Archive) -> None:
    archive.put([msg(t) for t in range(10)])
    page = archive.query(ArchiveQuery(limit=10))
    assert page.cursor is None
    archive.put([msg(t) for t in range(10, 15)])
    last = ordered(page.messages)[-1].hash
    assert [m.timestamp for m in archive.query(ArchiveQuery(limit=10, cursor=last)).messages] == list(range(10, 15))


TOPICS = (CHAT, NEWS, MISC)


@st.composite
def message_sets(draw: st.DrawFn) -> list[StoredMessage]:
    """Messages with many timestamp ties and a few topics: paging must break ties by hash."""
    count = draw(st.integers(0, 60))
    return [StoredMessage(hash=draw(st.binary(min_size=32, max_size=32)), pubsub_topic=draw(st.sampled_from(
        (PUBSUB, OTHER_PUBSUB))), content_topic=draw(st.sampled_from(TOPICS)), timestamp=draw(st.integers(0, 15)),
        data=b"d") for _ in range(count)]


@st.composite
def queries(draw: st.DrawFn) -> ArchiveQuery:
    start = draw(st.none() | st.integers(-1, 16))
    return ArchiveQuery(pubsub_topic=draw(st.none() | st.sampled_from((PUBSUB, OTHER_PUBSUB))),
                        content_topics=tuple(draw(st.lists(st.sampled_from(TOPICS), max_size=3))),
                        time_start=start, time_end=draw(st.none() | st.integers(start or 0, 16)),
                        forward=draw(st.booleans()), limit=draw(st.integers(1, 12)),
                        include_data=draw(st.booleans()))


def matches(m: StoredMessage, q: ArchiveQuery) -> bool:
    return ((q.pubsub_topic is None or m.pubsub_topic == q.pubsub_topic)
            and (not q.content_topics or m.content_topic in q.content_topics)
            and (q.time_start is None or m.timestamp >= q.time_start)
            and (q.time_end is None or m.timestamp <= q.time_end)
            and (not q.hashes or m.hash in q.hashes))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=message_sets(), query=queries(), by_hash=st.booleans())
def test_paging_agrees_with_a_sorted_model(archive: Archive, batch: list[StoredMessage], query: ArchiveQuery,
                                           by_hash: bool) -> None:
    """Examples accumulate in one archive; the model is everything put so far."""
    model = _model_of(archive)
    archive.put(batch)
    for m in batch:
        model.setdefault(m.hash, m)  # the first copy of a hash is the one kept
    if by_hash and model:
        query = ArchiveQuery(**{**_fields(query), "hashes": tuple(sorted(model)[::3])})
    want = [m for m in ordered(model.values()) if matches(m, query)]
    pages = page_all(archive, query)
    assert all(1 <= len(p) <= query.limit for p in pages[:-1]) and len(pages[-1]) <= query.limit
    got = [m for p in (pages if query.forward else reversed(pages)) for m in p]
    assert hashes(got) == hashes(want)
    assert all(m.data == (want_m.data if query.include_data else b"") for m, want_m in zip(got, want, strict=True))


def _model_of(archive: Archive) -> dict[bytes, StoredMessage]:
    return {m.hash: m for page in page_all(archive, ArchiveQuery(limit=100)) for m in page}


# --- retention ---------------------------------------------------------------------------------

def test_retention_by_age_keeps_messages_at_the_cutoff(archive: Archive) -> None:
    stored = ordered(msg(t * 1000) for t in range(10))
    archive.put(stored)
    assert archive.apply_retention(RetentionPolicy(max_age_ns=4000), now_ns=9000) == 5
    assert archive.query(ArchiveQuery(limit=100)).messages == stored[5:]  # 5000 = now - max_age is kept
    assert archive.apply_retention(RetentionPolicy(max_age_ns=4000), now_ns=9000) == 0
    assert archive.count() == 5


def test_retention_by_count_keeps_the_newest(archive: Archive) -> None:
    stored = ordered([msg(t // 2) for t in range(20)])  # ties: the order by hash decides
    archive.put(stored)
    assert archive.apply_retention(RetentionPolicy(max_messages=7), now_ns=0) == 13
    assert archive.query(ArchiveQuery(limit=100)).messages == stored[13:]
    assert archive.apply_retention(RetentionPolicy(max_messages=7), now_ns=0) == 0
    assert archive.apply_retention(RetentionPolicy(max_messages=0), now_ns=0) == 7
    assert archive.count() == 0


def test_retention_by_bytes_deletes_oldest_until_within_the_bound(archive: Archive) -> None:
    stored = ordered(msg(t, size=100 + t) for t in range(30))
    archive.put(stored)
    total = sum(len(m.data) for m in stored)
    assert archive.stored_bytes() == total
    bound = total // 3
    deleted = archive.apply_retention(RetentionPolicy(max_bytes=bound), now_ns=0)
    kept = stored[deleted:]
    assert archive.query(ArchiveQuery(limit=100)).messages == kept
    assert sum(len(m.data) for m in kept) <= bound < sum(len(m.data) for m in stored[deleted - 1:])
    assert archive.stored_bytes() == sum(len(m.data) for m in kept)
    assert archive.apply_retention(RetentionPolicy(max_bytes=bound), now_ns=0) == 0


def test_retention_by_bytes_walks_many_chunks(archive: Archive) -> None:
    stored = ordered(msg(t, size=10) for t in range(sql.RETENTION_CHUNK * 2 + 500))
    archive.put(stored)
    assert archive.apply_retention(RetentionPolicy(max_bytes=100), now_ns=0) == len(stored) - 10
    assert archive.query(ArchiveQuery(limit=100)).messages == stored[-10:]


def test_retention_policies_combine(archive: Archive) -> None:
    stored = ordered(msg(t, size=10) for t in range(100))
    archive.put(stored)
    policy = RetentionPolicy(max_age_ns=79, max_messages=15, max_bytes=100)
    assert archive.apply_retention(policy, now_ns=99) == 90  # age keeps 80, count 15, bytes 10
    assert archive.query(ArchiveQuery(limit=100)).messages == stored[90:]
    assert archive.apply_retention(RetentionPolicy(), now_ns=10**18) == 0
    assert archive.count() == 10


# --- lifecycle and threads ---------------------------------------------------------------------

def test_messages_survive_close_and_reopen(open_store: Callable[[], Archive]) -> None:
    first = open_store()
    stored = ordered(msg(t) for t in range(30))
    first.put(stored)
    first.close()
    first.close()  # idempotent
    with pytest.raises(ArchiveError):
        first.count()
    again = open_store()
    assert again.count() == 30
    assert again.query(ArchiveQuery(limit=100)).messages == stored
    assert again.put(stored) == 0


def test_two_archives_on_one_store_see_each_others_writes(open_store: Callable[[], Archive]) -> None:
    a, b = open_store(), open_store()
    a.put([msg(1), msg(2)])
    b.put([msg(3)])
    assert a.count() == b.count() == 3
    assert [m.timestamp for m in b.query(ArchiveQuery()).messages] == [1, 2, 3]


def test_concurrent_threads_put_and_query(archive: Archive) -> None:
    """Eight threads share one archive: overlapping puts count each hash once in total, and
    readers always see whole batches (a put is one transaction)."""
    batches = [[msg(t, hash_=hashlib.sha256(b"%d" % t).digest()) for t in range(start, start + 50)]
               for start in range(0, 400, 25)]  # neighbouring batches overlap by half
    new_counts: list[int] = []
    seen_counts: list[int] = []
    errors: list[BaseException] = []

    def writer(mine: list[list[StoredMessage]]) -> None:
        try:
            new_counts.extend(archive.put(batch) for batch in mine)
        except BaseException as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(30):
                page = archive.query(ArchiveQuery(limit=1000, include_data=False))
                seen_counts.append(len(page.messages))
                assert page.messages == ordered(page.messages)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches[i::4],)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(new_counts) == archive.count() == 425
    assert all(count % 25 == 0 for count in seen_counts)  # never half a batch


# --- opening (the factory) and SQLite specifics ------------------------------------------------

def test_open_archive_default_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "dir"
    archive = open_archive(None, data_dir)
    try:
        archive.put([msg(1)])
    finally:
        archive.close()
    assert (data_dir / "store.sqlite3").is_file()
    relative = open_archive("sqlite://other.sqlite3", data_dir)
    relative.close()
    assert (data_dir / "other.sqlite3").is_file()


@pytest.mark.parametrize(("url", "fragment"), [
    ("mysql://localhost/db", "must start with sqlite:// or postgresql://"),
    ("sqlite://", "must name a file"),
    ("sqlite:///nonexistent-dir-w3msg/x.sqlite3", "does not exist"),
    ("postgresql://user:secret@127.0.0.1:1/db?connect_timeout=2", "cannot use PostgreSQL at"),
    ("postgresql://a b", "malformed PostgreSQL url"),
])
def test_bad_urls_raise_one_line_config_errors(tmp_path: Path, url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_archive(url, tmp_path)
    text = str(info.value)
    assert fragment in text and "\n" not in text and "secret" not in text


def test_a_file_that_is_not_an_archive_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError, match="cannot open SQLite archive"):
        open_archive("sqlite://junk.sqlite3", tmp_path)
    sqlite3.connect(tmp_path / "future.sqlite3").execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        open_archive("sqlite://future.sqlite3", tmp_path)


def test_sqlite_runs_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    archive = SqliteArchive(tmp_path / "s.sqlite3")
    try:
        archive.put([msg(1)])
        assert (tmp_path / "s.sqlite3-wal").exists()
        conn = archive._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        archive.close()


@pytest.mark.parametrize("query", [
    ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT,), time_start=1, time_end=9, cursor=b"c" * 32),
    ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT,), time_start=1, cursor=b"c" * 32, forward=False),
    ArchiveQuery(pubsub_topic=PUBSUB, content_topics=(CHAT, NEWS, MISC), time_end=9, cursor=b"c" * 32),
    ArchiveQuery(pubsub_topic=PUBSUB, time_start=1, cursor=b"c" * 32),
    ArchiveQuery(time_start=1, cursor=b"c" * 32, forward=False),
    ArchiveQuery(hashes=(b"a" * 32, b"b" * 32), pubsub_topic=PUBSUB, content_topics=(CHAT, NEWS)),
], ids=["content", "content-backward", "three-topics", "pubsub", "time", "hashes"])
def test_sqlite_page_queries_walk_an_index_and_never_sort_the_table(tmp_path: Path, query: ArchiveQuery) -> None:
    """The plan of every page query shape searches an index (no full scan) and sorts at most the
    limit + 1 rows per content topic it already fetched in order."""
    archive = SqliteArchive(tmp_path / "plan.sqlite3")
    try:
        archive.put([msg(t, ct) for t in range(50) for ct in (CHAT, NEWS, MISC)])
        archive._conn.execute("ANALYZE")
        statement, params = sql.page_query(query, 5 if query.cursor else None, "?")
        plan = [row[3] for row in archive._conn.execute("EXPLAIN QUERY PLAN " + statement, params)]
    finally:
        archive.close()
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert searches and not [step for step in plan if step.startswith("SCAN store_messages")], plan
    if len(query.content_topics) == 1 or not query.content_topics:
        assert not [step for step in plan if "TEMP B-TREE" in step], plan
    if query.hashes:
        assert all("sqlite_autoindex_store_messages" in step for step in searches), plan


def test_postgres_reopens_a_lost_connection(pg_schema_url: str, postgres_url: str, tmp_path: Path) -> None:
    """The call that meets a dropped connection fails with ArchiveError (the driver's error
    chained); the next call reconnects and sees everything committed before."""
    import psycopg

    archive = open_archive(pg_schema_url, tmp_path)
    try:
        archive.put([msg(1), msg(2)])
        backend_pid = archive._conn.info.backend_pid  # type: ignore[attr-defined]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
        with pytest.raises(ArchiveError) as info:
            archive.count()
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        assert archive.count() == 2
        assert archive.put([msg(3)]) == 1
    finally:
        archive.close()
