"""The archive's pure SQL layer: page query shapes, bound merging, page assembly, retention walk.

Executing these queries is covered against both databases in
tests/integration/store/test_archive_behaviour.py; here we pin the decisions that make every
page an index range scan, and the page contract, without a database.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w3msg_libp2p.protocols.store import sql
from w3msg_libp2p.protocols.store.archive import ArchiveQuery

CURSOR = b"\x07" * 32


@st.composite
def queries(draw: st.DrawFn) -> ArchiveQuery:
    return ArchiveQuery(
        pubsub_topic=draw(st.none() | st.text(min_size=1, max_size=8)),
        content_topics=tuple(draw(st.lists(st.text(min_size=1, max_size=8), max_size=4))),
        time_start=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        time_end=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        hashes=tuple(draw(st.lists(st.binary(min_size=32, max_size=32), max_size=4))),
        cursor=draw(st.none() | st.just(CURSOR)),
        forward=draw(st.booleans()),
        limit=draw(st.integers(1, 100)),
        include_data=draw(st.booleans()),
    )


@given(query=queries(), cursor_ts=st.integers(-(2**63), 2**63 - 1), param=st.sampled_from(("?", "%s")))
def test_every_placeholder_has_its_parameter(query: ArchiveQuery, cursor_ts: int, param: str) -> None:
    statement, params = sql.page_query(query, cursor_ts if query.cursor else None, param)
    assert statement.count(param) == len(params)
    assert params[-1] == query.limit + 1  # one extra row tells whether more match
    other = "%s" if param == "?" else "?"
    assert other not in statement
    assert (", data" in statement) is query.include_data


def bounds(statement: str) -> list[str]:
    return [c for c in ("(timestamp, hash) > ", "(timestamp, hash) < ", "timestamp >= ", "timestamp <= ")
            if c in statement]


@pytest.mark.parametrize(("forward", "cursor_ts", "expected"), [
    (True, 15, ["(timestamp, hash) > ", "timestamp <= "]),  # cursor in range: it replaces time_start
    (True, 10, ["(timestamp, hash) > ", "timestamp <= "]),  # at time_start, strictly after it is enough
    (True, 5, ["timestamp >= ", "timestamp <= "]),  # before the range: every row in range is after it
    (False, 15, ["(timestamp, hash) < ", "timestamp >= "]),
    (False, 20, ["(timestamp, hash) < ", "timestamp >= "]),
    (False, 25, ["timestamp >= ", "timestamp <= "]),
])
def test_the_cursor_and_the_time_range_merge_into_one_bound_per_side(forward: bool, cursor_ts: int,
                                                                     expected: list[str]) -> None:
    query = ArchiveQuery(time_start=10, time_end=20, cursor=CURSOR, forward=forward)
    statement, params = sql.page_query(query, cursor_ts, "?")
    assert bounds(statement) == expected
    assert (CURSOR in params) is (len([b for b in expected if "hash" in b]) == 1)


def test_several_content_topics_become_one_limited_subquery_each() -> None:
    query = ArchiveQuery(pubsub_topic="/p", content_topics=("/a", "/b", "/a", "/c"), limit=20)
    statement, params = sql.page_query(query, None, "?")
    assert statement.count("UNION ALL") == 2  # duplicates dropped
    assert statement.count("LIMIT ?") == 4 and params.count(21) == 4
    assert " IN (" not in statement


def test_hash_lookups_filter_the_primary_key_rows() -> None:
    query = ArchiveQuery(hashes=(b"a" * 32, b"b" * 32, b"a" * 32), content_topics=("/a", "/b"), pubsub_topic="/p")
    statement, params = sql.page_query(query, None, "%s")
    assert statement.startswith("SELECT * FROM (SELECT hash, pubsub_topic, content_topic, timestamp, data "
                                "FROM store_messages WHERE hash IN (%s, %s) LIMIT %s) AS h WHERE ")
    assert params[:3] == [b"a" * 32, b"b" * 32, 2]
    assert "UNION" not in statement


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        sql.page_query(ArchiveQuery(limit=0), None, "?")


def row(n: int) -> tuple[bytes, str, str, int, bytes]:
    return (bytes([n]) * 32, "/p", "/c", n, b"d%d" % n)


@pytest.mark.parametrize("forward", [True, False])
def test_a_full_fetch_yields_limit_messages_and_a_cursor(forward: bool) -> None:
    fetched = [row(n) for n in (range(1, 5) if forward else range(9, 5, -1))]  # limit 3: 4 rows fetched
    page = sql.make_page(fetched, ArchiveQuery(limit=3, forward=forward))
    timestamps = [m.timestamp for m in page.messages]
    assert timestamps == ([1, 2, 3] if forward else [7, 8, 9])  # oldest first either way
    assert page.cursor == (bytes([3]) * 32 if forward else bytes([7]) * 32)  # the last one reached


def test_a_short_fetch_ends_the_paging() -> None:
    page = sql.make_page([row(1), row(2)], ArchiveQuery(limit=2))
    assert page.cursor is None and [m.data for m in page.messages] == [b"d1", b"d2"]
    assert sql.make_page([], ArchiveQuery()).messages == []
    no_data = sql.make_page([row(1)[:4]], ArchiveQuery(include_data=False))
    assert no_data.messages[0].data == b""


@given(sizes=st.lists(st.integers(0, 1000), max_size=50), excess=st.integers(-10, 30000),
       chunk=st.integers(1, 7))
def test_bytes_boundary_is_the_shortest_oldest_prefix_covering_the_excess(sizes: list[int], excess: int,
                                                                          chunk: int) -> None:
    rows = [(i, bytes([i]) * 32, size) for i, size in enumerate(sizes)]
    chunks = [rows[i:i + chunk] for i in range(0, len(rows), chunk)]
    boundary = sql.bytes_boundary(chunks, excess)
    if excess <= 0 or not rows:
        assert boundary is None
        return
    assert boundary is not None
    cut = boundary[0] + 1  # rows[:cut] are deleted
    deleted = sum(sizes[:cut])
    assert deleted >= excess or cut == len(rows)
    assert sum(sizes[:cut - 1]) < excess  # one row fewer would not have been enough


def test_redact_hides_passwords_only() -> None:
    assert sql.redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert sql.redact("postgresql://h/db?password=x&sslmode=require") == "postgresql://h/db?password=***&sslmode=require"
    assert sql.redact("postgresql://u@h/db") == "postgresql://u@h/db"
