"""The PostgreSQL archive (psycopg 3): same table, indexes, ordering and cursors as SQLite.

Hashes and data are bytea, compared bytewise like SQLite's BLOBs, so (timestamp, hash) order
and therefore paging are identical across backends. Topics use the "C" collation: we only
compare them for equality, and bytewise comparison is the cheapest.
Durability is the server's: a put() has returned after COMMIT, which with PostgreSQL's
default synchronous_commit=on is flushed to its WAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import conninfo

from ...core.errors import ConfigError
from . import sql
from .archive import ArchiveError
from .sql import redact
from .sql_archive import Cursor, SqlArchive

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {sql.TABLE} (
        hash bytea PRIMARY KEY,
        pubsub_topic text COLLATE "C" NOT NULL,
        content_topic text COLLATE "C" NOT NULL,
        timestamp bigint NOT NULL,
        data bytea NOT NULL)""",
    # Payloads are mostly encrypted: do not try to compress the large ones out of line.
    f"ALTER TABLE {sql.TABLE} ALTER COLUMN data SET STORAGE EXTERNAL",
    f"""CREATE TABLE IF NOT EXISTS {sql.STATS} (
        id integer PRIMARY KEY CHECK (id = 1),
        schema_version integer NOT NULL,
        messages bigint NOT NULL,
        bytes bigint NOT NULL)""",
    f"INSERT INTO {sql.STATS} VALUES (1, {sql.SCHEMA_VERSION}, 0, 0) ON CONFLICT DO NOTHING",
    # Running totals kept per statement (transition tables), in the changing transaction.
    f"""CREATE OR REPLACE FUNCTION store_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {sql.STATS} SET messages = messages + (SELECT count(*) FROM changed),
            bytes = bytes + (SELECT coalesce(sum(length(data)), 0) FROM changed) WHERE id = 1;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION store_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {sql.STATS} SET messages = messages - (SELECT count(*) FROM changed),
            bytes = bytes - (SELECT coalesce(sum(length(data)), 0) FROM changed) WHERE id = 1;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE TRIGGER store_messages_insert AFTER INSERT ON {sql.TABLE}
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION store_stats_insert()""",
    f"""CREATE OR REPLACE TRIGGER store_messages_delete AFTER DELETE ON {sql.TABLE}
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION store_stats_delete()""",
    *(f"CREATE INDEX IF NOT EXISTS {name} ON {sql.TABLE} ({columns})" for name, columns in sql.INDEXES),
)
_SCHEMA_LOCK = 0x773373746f7265  # pg_advisory_xact_lock key: concurrent first opens create it once

# One statement per batch: arrays in binary format (%b), unnested server-side.
_INSERT = (f"INSERT INTO {sql.TABLE} (hash, pubsub_topic, content_topic, timestamp, data) "
           "SELECT * FROM unnest(%b::bytea[], %b::text[], %b::text[], %b::bigint[], %b::bytea[]) "
           "ON CONFLICT DO NOTHING")


class PostgresArchive(SqlArchive):
    """An Archive in the PostgreSQL database at ``url`` (tables created if missing).

    One connection (autocommit; each put and retention pass is one explicit transaction).
    Calls may come from any thread; an internal lock runs them one at a time (see SqlArchive).
    A connection lost between calls is reopened by the next call; a call that fails raises
    ArchiveError. Several nodes may share one database.

    Raises ConfigError when the URL is malformed or the server unreachable or refuses us.
    """

    PARAM = "%s"

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        super().__init__()
        self.url = url
        try:
            params = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"store: malformed PostgreSQL url {redact(url)}: {_first_line(exc)}") from exc
        extra: dict[str, str | int | None] = {"application_name": params.get("application_name", "w3msg-store"),
                                              "connect_timeout": params.get("connect_timeout", connect_timeout)}
        self._conninfo = conninfo.make_conninfo(url, **extra)
        try:
            self._conn = self._connect()
            self._setup()
        except psycopg.Error as exc:
            raise ConfigError(f"store: cannot use PostgreSQL at {redact(url)}: {_first_line(exc)}") from exc
        self._closed = False

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._conninfo, autocommit=True)

    def _setup(self) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                cur.execute(statement)
            cur.execute(f"SELECT schema_version FROM {sql.STATS} WHERE id = 1")
            row = cur.fetchone()
        version = row[0] if row else None
        if version != sql.SCHEMA_VERSION:
            self._conn.close()
            raise ConfigError(f"store: PostgreSQL archive at {redact(self.url)} has schema version {version}; "
                              f"this w3msg reads version {sql.SCHEMA_VERSION}")

    def _live(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._closed:
            raise ArchiveError("PostgreSQL archive is closed")
        if self._conn.closed or self._conn.broken:
            try:
                self._conn = self._connect()
            except psycopg.Error as exc:
                raise ArchiveError(f"PostgreSQL at {redact(self.url)}: {_first_line(exc)}") from exc
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        conn = self._live()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise ArchiveError(f"PostgreSQL at {redact(self.url)}: {_first_line(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        conn = self._live()
        try:
            with conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise ArchiveError(f"PostgreSQL at {redact(self.url)}: {_first_line(exc)}") from exc

    def _insert(self, cur: Cursor, rows: list[tuple[bytes, str, str, int, bytes]]) -> int:
        columns = [list(column) for column in zip(*rows, strict=True)]
        cur.execute(_INSERT, columns)
        return cur.rowcount

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
