"""SQL shared by the SQLite and PostgreSQL archives: page queries and page assembly.

Pure: builds (sql, params) and turns fetched rows into an ArchivePage; the backends execute.
Both backends use the same table and index layout (see docs/store-archive.md):

- ``store_messages(hash PK, pubsub_topic, content_topic, timestamp, data)``
- ``store_content_idx (content_topic, pubsub_topic, timestamp, hash)``: content topic queries
- ``store_pubsub_idx (pubsub_topic, timestamp, hash)``: pubsub-topic-only queries
- ``store_time_idx (timestamp, hash)``: unfiltered queries and retention (oldest first)
- the primary key: hash lookups and cursor resolution

Every page query is an index range scan in (timestamp, hash) order that stops after limit + 1
rows: the cursor and the time bound on the same side are merged into the one tighter bound
(so page N costs what page 1 costs), and several content topics become one sorted, limited
subquery per topic merged by an outer ORDER BY (an ``IN`` list would make the database collect
and sort every matching row of every topic before it could return the first page).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .archive import ArchivePage, ArchiveQuery, StoredMessage

TABLE = "store_messages"
STATS = "store_stats"
SCHEMA_VERSION = 1
KEY_COLUMNS = "hash, pubsub_topic, content_topic, timestamp"

# The indexes both backends create (name, columns). Backends add their own DDL around them.
INDEXES: tuple[tuple[str, str], ...] = (
    ("store_content_idx", "content_topic, pubsub_topic, timestamp, hash"),
    ("store_pubsub_idx", "pubsub_topic, timestamp, hash"),
    ("store_time_idx", "timestamp, hash"),
)

Row = Sequence[Any]  # as the driver returns it: (hash, pubsub_topic, content_topic, timestamp[, data])


@dataclass(slots=True)
class _Where:
    param: str  # the driver's placeholder: "?" (sqlite3) or "%s" (psycopg)
    clauses: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, clause: str, *params: object) -> None:
        self.clauses.append(clause.replace("?", self.param))
        self.params.extend(params)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def check_query(query: ArchiveQuery) -> None:
    """Refuse what no backend can answer (the store server validates wire requests before this)."""
    if query.limit < 1:
        raise ValueError(f"limit must be at least 1, got {query.limit}")


def page_query(query: ArchiveQuery, cursor_timestamp: int | None, param: str) -> tuple[str, list[object]]:
    """SQL and parameters fetching up to ``limit + 1`` rows of one page, in fetch order
    (ascending when forward, descending when backward). ``cursor_timestamp`` is the stored
    timestamp of ``query.cursor`` (the caller resolved it; None when there is no cursor)."""
    check_query(query)
    columns = KEY_COLUMNS + (", data" if query.include_data else "")
    direction = "ASC" if query.forward else "DESC"
    order = f" ORDER BY timestamp {direction}, hash {direction} LIMIT {param}"
    fetch = query.limit + 1
    if query.hashes:
        return _hash_query(query, cursor_timestamp, param, columns, order)
    if len(query.content_topics) <= 1:
        where = _where(query, cursor_timestamp, param, query.content_topics)
        return f"SELECT {columns} FROM {TABLE}{where.sql()}{order}", [*where.params, fetch]
    parts: list[str] = []
    params: list[object] = []
    for i, topic in enumerate(dict.fromkeys(query.content_topics)):
        where = _where(query, cursor_timestamp, param, (topic,))
        parts.append(f"SELECT * FROM (SELECT {columns} FROM {TABLE}{where.sql()}{order}) AS t{i}")
        params.extend([*where.params, fetch])
    return " UNION ALL ".join(parts) + order, [*params, fetch]


def _hash_query(query: ArchiveQuery, cursor_timestamp: int | None, param: str, columns: str,
                order: str) -> tuple[str, list[object]]:
    """Hash lookups go through the primary key, other criteria filter the few rows found.
    The inner LIMIT (one row per hash at most) keeps both planners from merging the two levels
    and walking a topic index instead, which they may prefer for the ORDER BY."""
    hashes = list(dict.fromkeys(query.hashes))
    inner = (f"SELECT {columns} FROM {TABLE} WHERE hash IN ({', '.join([param] * len(hashes))}) "
             f"LIMIT {param}")
    where = _where(query, cursor_timestamp, param, query.content_topics)
    return (f"SELECT * FROM ({inner}) AS h{where.sql()}{order}",
            [*hashes, len(hashes), *where.params, query.limit + 1])


def _where(query: ArchiveQuery, cursor_timestamp: int | None, param: str, topics: Sequence[str]) -> _Where:
    where = _Where(param)
    if topics:
        if len(topics) == 1:
            where.add("content_topic = ?", topics[0])
        else:
            where.add(f"content_topic IN ({', '.join(['?'] * len(topics))})", *topics)
    if query.pubsub_topic is not None:
        where.add("pubsub_topic = ?", query.pubsub_topic)
    _add_bounds(where, query, cursor_timestamp)
    return where


def _add_bounds(where: _Where, query: ArchiveQuery, cursor_ts: int | None) -> None:
    """The time range and the cursor as at most one lower and one upper bound on (timestamp, hash).

    Forward, the cursor is a strict lower bound: when its timestamp is within the range it implies
    ``timestamp >= time_start``, and when it is before the range every row in range is after it,
    so only one of the two is kept. Backward, the same holds for the upper bound and time_end.
    """
    cursor = query.cursor if cursor_ts is not None else None
    lower_time, upper_time = query.time_start, query.time_end
    if cursor is not None and cursor_ts is not None:
        if query.forward and (lower_time is None or cursor_ts >= lower_time):
            where.add("(timestamp, hash) > (?, ?)", cursor_ts, cursor)
            lower_time = None
        elif not query.forward and (upper_time is None or cursor_ts <= upper_time):
            where.add("(timestamp, hash) < (?, ?)", cursor_ts, cursor)
            upper_time = None
    if lower_time is not None:
        where.add("timestamp >= ?", lower_time)
    if upper_time is not None:
        where.add("timestamp <= ?", upper_time)


def make_page(rows: Sequence[Row], query: ArchiveQuery) -> ArchivePage:
    """Turn up to ``limit + 1`` fetched rows into a page, as nwaku does: the cursor is the hash of
    the last message included in fetch order (set only when a further row exists), and a backward
    page is returned oldest first, so its cursor is the hash of its first message."""
    more = len(rows) > query.limit
    kept = rows[: query.limit]
    messages = [_stored(row) for row in kept]
    cursor = messages[-1].hash if more else None
    if not query.forward:
        messages.reverse()
    return ArchivePage(messages=messages, cursor=cursor)


def _stored(row: Row) -> StoredMessage:
    data = row[4] if len(row) > 4 else b""
    return StoredMessage(hash=bytes(row[0]), pubsub_topic=row[1], content_topic=row[2], timestamp=row[3],
                         data=bytes(data))


def message_rows(messages: Sequence[StoredMessage]) -> list[tuple[bytes, str, str, int, bytes]]:
    return [(m.hash, m.pubsub_topic, m.content_topic, m.timestamp, m.data) for m in messages]


Boundary = tuple[int, bytes]  # (timestamp, hash) of the newest row a retention pass deletes
SizeChunk = Sequence[tuple[int, bytes, int]]  # (timestamp, hash, data length), oldest first


RETENTION_CHUNK = 2000


def oldest_rows_sql(param: str, after: Boundary | None) -> tuple[str, list[object]]:
    """The next chunk of (timestamp, hash, data length), oldest first, after ``after``
    (keyset paging along store_time_idx), for retention by bytes."""
    where = f" WHERE (timestamp, hash) > ({param}, {param})" if after is not None else ""
    sql = f"SELECT timestamp, hash, length(data) FROM {TABLE}{where} ORDER BY timestamp ASC, hash ASC LIMIT {param}"
    return sql, [*(after or ()), RETENTION_CHUNK]


def nth_oldest_sql(param: str) -> str:
    """(timestamp, hash) of the n-th oldest row; parameter: n - 1. For retention by count."""
    return f"SELECT timestamp, hash FROM {TABLE} ORDER BY timestamp ASC, hash ASC LIMIT 1 OFFSET {param}"


def delete_through_sql(param: str) -> str:
    """Delete a boundary row and everything older; parameters: the boundary's timestamp, hash."""
    return f"DELETE FROM {TABLE} WHERE (timestamp, hash) <= ({param}, {param})"


def delete_older_sql(param: str) -> str:
    """Delete every row older than a timestamp (retention by age); parameter: the cutoff."""
    return f"DELETE FROM {TABLE} WHERE timestamp < {param}"


def bytes_boundary(chunks: Iterable[SizeChunk], excess: int) -> Boundary | None:
    """Walk the oldest rows until their sizes add up to ``excess``; the row reaching it is the
    boundary (delete it and everything older). None if ``excess`` <= 0 or there are no rows."""
    if excess <= 0:
        return None
    total, last = 0, None
    for chunk in chunks:
        for timestamp, hash_, size in chunk:
            total += size
            last = (timestamp, bytes(hash_))
            if total >= excess:
                return last
    return last


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)
