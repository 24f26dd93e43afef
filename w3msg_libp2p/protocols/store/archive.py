"""The message archive behind store v3: the interface every backend implements.

Backends are synchronous (SQLite and psycopg block); the store service runs them in worker
threads, so this module and the backends import neither trio nor libp2p.
Messages are ordered by (timestamp, hash); a cursor is the hash of the last message of a page
in the direction of travel. Every page, forward or backward, lists its messages oldest first
(as nwaku does), so a backward page's cursor is the hash of its first message.
Semantics in detail: docs/store-archive.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ...core.errors import W3MsgError


@dataclass(frozen=True, slots=True)
class StoredMessage:
    hash: bytes  # Waku message hash (32 bytes): the primary key
    pubsub_topic: str
    content_topic: str
    timestamp: int  # ns: the message's own timestamp, or when we received it if it had none
    data: bytes  # the serialized WakuMessage, exactly as received


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    pubsub_topic: str | None = None
    content_topics: tuple[str, ...] = ()
    time_start: int | None = None  # inclusive, ns
    time_end: int | None = None  # inclusive, ns
    hashes: tuple[bytes, ...] = ()  # lookup by hash (other criteria still apply)
    cursor: bytes | None = None  # hash of the last message already seen
    forward: bool = True  # oldest first; False: newest first
    limit: int = 20
    include_data: bool = True  # False: StoredMessage.data is b"" (hash-only queries are cheaper)


@dataclass(frozen=True, slots=True)
class ArchivePage:
    messages: list[StoredMessage]
    cursor: bytes | None  # set when more messages match beyond this page


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    max_age_ns: int | None = None  # keep messages whose timestamp >= now - max_age_ns
    max_messages: int | None = None  # keep the newest max_messages
    max_bytes: int | None = None  # keep the newest whose StoredMessage.data lengths sum to <= max_bytes


class UnknownCursor(LookupError):
    """The cursor names no stored message (expired, or never ours)."""


class ArchiveError(W3MsgError):
    """The backend failed (database unreachable, disk full, corrupt file): not the caller's fault.
    A store server answers it with a 5xx status; the driver's error is chained (``__cause__``)."""


class Archive(Protocol):
    """Every method is synchronous and may block; backends are safe to call from any thread
    (calls are serialized per archive). Every method except ``close`` raises ArchiveError
    when the database fails."""

    def put(self, messages: Sequence[StoredMessage]) -> int:
        """Store ``messages`` durably (committed when this returns); a hash already stored is
        skipped. Returns how many were new."""
        ...

    def query(self, query: ArchiveQuery) -> ArchivePage:
        """One page of matching messages: the next ``limit`` after the cursor in the direction
        of travel, listed oldest first; ``cursor`` is set only when more match.
        Raises UnknownCursor, and ValueError for ``limit < 1``."""
        ...

    def apply_retention(self, policy: RetentionPolicy, now_ns: int) -> int:
        """Delete what the policy no longer keeps (oldest first); returns how many were deleted."""
        ...

    def count(self) -> int:
        """How many messages are stored (kept as a running total: no scan)."""
        ...

    def stored_bytes(self) -> int:
        """Sum of the stored StoredMessage.data lengths, what max_bytes bounds (no scan)."""
        ...

    def close(self) -> None: ...
