"""The message archive behind store v3: the interface every backend implements.

Backends are synchronous (SQLite and psycopg block); the store service runs them in worker
threads, so this module and the backends import neither trio nor libp2p.
Messages are ordered by (timestamp, hash); a cursor is the hash of the last message of a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
    max_age_ns: int | None = None
    max_messages: int | None = None
    max_bytes: int | None = None


class UnknownCursor(LookupError):
    """The cursor names no stored message (expired, or never ours)."""


class Archive(Protocol):
    def put(self, messages: Sequence[StoredMessage]) -> int:
        """Store ``messages`` durably (committed when this returns); a hash already stored is
        skipped. Returns how many were new."""
        ...

    def query(self, query: ArchiveQuery) -> ArchivePage:
        """One page of matching messages in (timestamp, hash) order. Raises UnknownCursor."""
        ...

    def apply_retention(self, policy: RetentionPolicy, now_ns: int) -> int:
        """Delete what the policy no longer keeps (oldest first); returns how many were deleted."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...
