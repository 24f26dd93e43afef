"""The embedded archive: one SQLite file (stdlib sqlite3) in WAL mode.

Durability: WAL with synchronous=NORMAL. A commit is in the WAL file before put() returns, so a
killed process (kill -9, crash) loses nothing put() reported; a power cut or OS crash may lose
the last transactions before a checkpoint (never the file's consistency). FULL would add an
fsync per commit; the store ingests in batches, so NORMAL is the trade nwaku and most embedded
stores make.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...core.errors import ConfigError
from . import sql
from .archive import ArchiveError
from .sql_archive import Cursor, SqlArchive

log = logging.getLogger(__name__)

_SCHEMA = (
    f"""CREATE TABLE {sql.TABLE} (
        hash BLOB NOT NULL PRIMARY KEY,
        pubsub_topic TEXT NOT NULL,
        content_topic TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        data BLOB NOT NULL)""",
    # One row of running totals, kept by triggers in the same transaction as the change, so
    # count() and retention by bytes need no scan.
    f"CREATE TABLE {sql.STATS} (id INTEGER PRIMARY KEY CHECK (id = 1), messages INTEGER NOT NULL, "
    "bytes INTEGER NOT NULL)",
    f"INSERT INTO {sql.STATS} VALUES (1, 0, 0)",
    f"""CREATE TRIGGER store_messages_insert AFTER INSERT ON {sql.TABLE} BEGIN
        UPDATE {sql.STATS} SET messages = messages + 1, bytes = bytes + length(NEW.data) WHERE id = 1;
    END""",
    f"""CREATE TRIGGER store_messages_delete AFTER DELETE ON {sql.TABLE} BEGIN
        UPDATE {sql.STATS} SET messages = messages - 1, bytes = bytes - length(OLD.data) WHERE id = 1;
    END""",
    *(f"CREATE INDEX {name} ON {sql.TABLE} ({columns})" for name, columns in sql.INDEXES),
)

_INSERT = (f"INSERT OR IGNORE INTO {sql.TABLE} (hash, pubsub_topic, content_topic, timestamp, data) "
           "VALUES (?, ?, ?, ?, ?)")

_PRAGMAS = (
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -65536",  # KiB: 64 MiB keeps the upper index levels hot at millions of rows
    "PRAGMA temp_store = MEMORY",
)


class SqliteArchive(SqlArchive):
    """An Archive in the SQLite file ``path`` (created with its schema if missing).

    One connection, opened with ``check_same_thread=False`` and in autocommit mode (we issue
    BEGIN IMMEDIATE / COMMIT ourselves, so a put is exactly one transaction). Calls may come
    from any thread; an internal lock runs them one at a time (see SqlArchive). Other processes
    may read the file concurrently (WAL); a second writer waits up to ``busy_timeout`` seconds.

    Raises ConfigError when the file cannot be opened as a w3msg archive.
    """

    PARAM = "?"

    def __init__(self, path: Path | str, *, busy_timeout: float = 10.0) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigError(f"store: directory {self.path.parent} does not exist")
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise ConfigError(f"store: cannot open SQLite archive {self.path}: {exc}") from exc
        try:
            self._setup()
        except (sqlite3.Error, ConfigError) as exc:
            self._conn.close()
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"store: cannot open SQLite archive {self.path}: {exc}") from exc
        self._closed = False

    def _setup(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise ConfigError(f"store: SQLite archive {self.path} cannot use WAL mode (got {mode!r})")
        for pragma in _PRAGMAS:
            self._conn.execute(pragma)
        self._conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file: one creates it
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")
            elif version != sql.SCHEMA_VERSION:
                raise ConfigError(f"store: SQLite archive {self.path} has schema version {version}; "
                                  f"this w3msg reads version {sql.SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _cursor(self) -> sqlite3.Cursor:
        if self._closed:
            raise ArchiveError(f"SQLite archive {self.path} is closed")
        return self._conn.cursor()

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        cur = self._cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                self._conn.rollback()
                raise
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise ArchiveError(f"SQLite archive {self.path}: {exc}") from exc
        finally:
            cur.close()

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        cur = self._cursor()
        try:
            yield cur
        except sqlite3.Error as exc:
            raise ArchiveError(f"SQLite archive {self.path}: {exc}") from exc
        finally:
            cur.close()

    def _insert(self, cur: Cursor, rows: list[tuple[bytes, str, str, int, bytes]]) -> int:
        cur.executemany(_INSERT, rows)
        return cur.rowcount  # summed over the rows; ignored duplicates count 0

    def close(self) -> None:
        """Close the connection (idempotent); the last connection to close checkpoints the WAL."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.execute("PRAGMA optimize")  # refreshes planner statistics where stale
            except sqlite3.Error as exc:
                log.warning("store: PRAGMA optimize on %s failed: %s", self.path, exc)
            self._conn.close()

