"""What the SQLite and PostgreSQL archives share: put, query, retention and count over DB-API
cursors, serialized by a lock. A backend supplies its connection, transactions, the insert
statement and the mapping of its driver's errors to ArchiveError."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

from . import sql
from .archive import ArchivePage, ArchiveQuery, RetentionPolicy, StoredMessage, UnknownCursor


class Cursor(Protocol):
    """The part of a DB-API cursor we use (sqlite3.Cursor and psycopg.Cursor both fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, query: Any, params_seq: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlArchive(ABC):
    """The Archive behaviour on top of a backend's connection (see archive.Archive).

    Thread contract: every public method takes ``self._lock``, so calls from any number of
    threads run one at a time on the one connection. The store service calls the archive from
    trio worker threads (``trio.to_thread.run_sync`` behind a CapacityLimiter of 1), so there
    the lock is never contended; it makes the archive safe for any other caller too.
    """

    PARAM: ClassVar[str]  # the driver's placeholder

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def _write(self) -> AbstractContextManager[Cursor]:
        """A cursor inside a write transaction, committed on exit (rolled back on error);
        driver errors leave as ArchiveError."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads; driver errors leave as ArchiveError."""

    @abstractmethod
    def _insert(self, cur: Cursor, rows: list[tuple[bytes, str, str, int, bytes]]) -> int:
        """Insert the rows, skipping stored hashes; return how many were new."""

    def put(self, messages: Sequence[StoredMessage]) -> int:
        if not messages:
            return 0
        rows = sql.message_rows(messages)
        with self._lock, self._write() as cur:
            return self._insert(cur, rows)

    def query(self, query: ArchiveQuery) -> ArchivePage:
        sql.check_query(query)
        with self._lock, self._read() as cur:
            cursor_timestamp = None
            if query.cursor is not None:
                cur.execute(f"SELECT timestamp FROM {sql.TABLE} WHERE hash = {self.PARAM}", (query.cursor,))
                row = cur.fetchone()
                if row is None:
                    raise UnknownCursor(f"cursor {query.cursor.hex()} names no stored message")
                cursor_timestamp = row[0]
            statement, params = sql.page_query(query, cursor_timestamp, self.PARAM)
            cur.execute(statement, params)
            rows = cur.fetchall()
        return sql.make_page(rows, query)

    def count(self) -> int:
        with self._lock, self._read() as cur:
            return self._stats(cur)[0]

    def stored_bytes(self) -> int:
        """Sum of the stored messages' data lengths (what RetentionPolicy.max_bytes bounds)."""
        with self._lock, self._read() as cur:
            return self._stats(cur)[1]

    def apply_retention(self, policy: RetentionPolicy, now_ns: int) -> int:
        """Age first, then count, then bytes; each deletes the oldest (timestamp, hash) first."""
        p = self.PARAM
        deleted = 0
        with self._lock, self._write() as cur:
            if policy.max_age_ns is not None:
                cur.execute(sql.delete_older_sql(p), (now_ns - policy.max_age_ns,))
                deleted += cur.rowcount
            if policy.max_messages is not None:
                excess = self._stats(cur)[0] - policy.max_messages
                if excess > 0:
                    cur.execute(sql.nth_oldest_sql(p), (excess - 1,))
                    deleted += self._delete_through(cur, cur.fetchone())
            if policy.max_bytes is not None:
                excess = self._stats(cur)[1] - policy.max_bytes
                deleted += self._delete_through(cur, sql.bytes_boundary(self._size_chunks(cur), excess))
        return deleted

    def _delete_through(self, cur: Cursor, boundary: Sequence[Any] | None) -> int:
        if boundary is None:
            return 0
        cur.execute(sql.delete_through_sql(self.PARAM), (boundary[0], boundary[1]))
        return cur.rowcount

    def _size_chunks(self, cur: Cursor) -> Iterator[sql.SizeChunk]:
        after: sql.Boundary | None = None
        while True:
            statement, params = sql.oldest_rows_sql(self.PARAM, after)
            cur.execute(statement, params)
            rows = cur.fetchall()
            if not rows:
                return
            yield rows
            after = (rows[-1][0], bytes(rows[-1][1]))

    def _stats(self, cur: Cursor) -> tuple[int, int]:
        cur.execute(f"SELECT messages, bytes FROM {sql.STATS} WHERE id = 1")
        messages, stored = cur.fetchone()
        return int(messages), int(stored)
