"""Store v3 (13/WAKU2-STORE) requests and responses as frozen dataclasses.

Field names follow the protobuf, shortened where Python allows (``cursor`` for
``pagination_cursor``, ``forward``, ``limit``). ``None`` means "field absent".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ...core.message import WakuMessage

STORE_PROTOCOL_ID = "/vac/waku/store-query/3.0.0"
HASH_BYTES = 32


class StoreStatus(IntEnum):
    """Status codes of StoreQueryResponse (the names are nwaku's, used in ``status_desc``)."""

    SUCCESS = 200
    BAD_REQUEST = 400
    TOO_LARGE = 413
    TOO_MANY_REQUESTS = 429
    INTERNAL_ERROR = 500
    SERVICE_UNAVAILABLE = 503
    PEER_DIAL_FAILURE = 504


@dataclass(frozen=True, slots=True)
class StoreQuery:
    """A StoreQueryRequest.

    The dataclass defaults are what an application usually wants (full messages, oldest first,
    as js-waku defaults); on the wire an absent field means the spec's default (hashes only,
    backward), and decoding yields exactly what was sent.
    """

    request_id: str = ""  # the client fills in a fresh id when empty
    include_data: bool = True
    pubsub_topic: str | None = None
    content_topics: tuple[str, ...] = ()
    time_start: int | None = None  # ns, inclusive
    time_end: int | None = None  # ns, inclusive (as nwaku; see docs/store.md)
    message_hashes: tuple[bytes, ...] = ()
    cursor: bytes | None = None  # hash of the last entry already seen (exclusive)
    forward: bool = True
    limit: int | None = None  # None or 0: the server's default page size


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """A WakuMessageKeyValue: the hash, and with ``include_data`` the message and its topic."""

    message_hash: bytes
    message: WakuMessage | None = None
    pubsub_topic: str | None = None


@dataclass(frozen=True, slots=True)
class StoreResponse:
    request_id: str
    status_code: int
    status_desc: str
    messages: tuple[StoreEntry, ...] = ()
    cursor: bytes | None = None  # set when more entries match: pass it in the next query

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300
