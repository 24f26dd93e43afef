"""Store v3 server logic, without I/O: request -> archive query -> response.

``StoreServer.execute`` validates a query, runs it through the archive callable it is given
and builds the response; every failure becomes a response with its status code, so the same
core serves the libp2p stream (``handle``: bytes in, bytes out), the REST API and tests.
The archive callable blocks (the service runs the whole call in a worker thread).
Behaviour, status codes and choices where the spec is silent: docs/store.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ...core.codec import decode_message
from ...core.errors import RemoteProtocolError
from .archive import ArchivePage, ArchiveQuery, StoredMessage, UnknownCursor
from .codec import MAX_QUERY_BYTES, decode_query, encode_response
from .rpc import HASH_BYTES, StoreEntry, StoreQuery, StoreResponse, StoreStatus

log = logging.getLogger(__name__)

QueryArchive = Callable[[ArchiveQuery], ArchivePage]

# Request ids are not known when a request is refused before it is parsed (nwaku's choice).
UNKNOWN_REQUEST_ID = "N/A"
# DB-API 2 error classes that mean "the database cannot serve now", not "this query is wrong".
_UNAVAILABLE_ERRORS = frozenset({"OperationalError", "InterfaceError"})


@dataclass(frozen=True, slots=True)
class StoreLimits:
    default_page_size: int = 20
    max_page_size: int = 100  # larger requested limits are capped, not refused
    max_content_topics: int = 100
    max_hashes: int = 1000
    max_query_bytes: int = MAX_QUERY_BYTES


class StoreRefusal(RemoteProtocolError):
    """A query we answer with an error status."""


def status_desc(status: int, description: str = "") -> str:
    """``status_desc`` worded as nwaku words it: the status name, then the cause."""
    try:
        name = StoreStatus(status).name
    except ValueError:
        name = "UNKNOWN"
    if status == StoreStatus.SUCCESS:
        return "OK"
    return f"{name}: {description}" if description else name


def refusal(status: int, description: str, request_id: str = UNKNOWN_REQUEST_ID) -> StoreResponse:
    return StoreResponse(request_id=request_id, status_code=status, status_desc=status_desc(status, description))


class StoreServer:
    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits or StoreLimits()

    # -- the whole request, bytes to bytes (the libp2p handler runs this in a worker thread) -----
    def handle(self, request: bytes, query_archive: QueryArchive) -> StoreResponse:
        """The response to one serialized StoreQueryRequest (encode it with ``encode``)."""
        try:
            query = decode_query(request, self.limits.max_query_bytes)
        except RemoteProtocolError as exc:
            return refusal(exc.status_code, f"decoding request failed: {exc}", "")
        return self.execute(query, query_archive)

    @staticmethod
    def encode(response: StoreResponse) -> bytes:
        return encode_response(response)

    # -- a parsed query ----------------------------------------------------------------------------
    def execute(self, query: StoreQuery, query_archive: QueryArchive) -> StoreResponse:
        try:
            archive_query = self.plan(query)
        except StoreRefusal as exc:
            return refusal(exc.status_code, str(exc), query.request_id)
        try:
            page = query_archive(archive_query)
        except UnknownCursor:
            return refusal(StoreStatus.BAD_REQUEST, "cursor not found", query.request_id)
        except Exception as exc:  # the backend's own errors: classified, logged and answered
            status = archive_failure_status(exc)
            if status == StoreStatus.SERVICE_UNAVAILABLE:
                log.warning("store: archive unavailable: %s", exc)
            else:
                log.exception("store: archive query failed")
            return refusal(status, "archive query failed", query.request_id)
        try:
            return answer(query, page)
        except RemoteProtocolError as exc:  # a stored row that no longer decodes: ours, not theirs
            log.error("store: archive returned an undecodable message: %s", exc)
            return refusal(StoreStatus.INTERNAL_ERROR, "archive returned an undecodable message",
                           query.request_id)

    def plan(self, query: StoreQuery) -> ArchiveQuery:
        """The archive query for a valid StoreQuery; raises StoreRefusal (400) otherwise."""
        check_query(query, self.limits)
        return ArchiveQuery(
            pubsub_topic=query.pubsub_topic,
            content_topics=tuple(dict.fromkeys(query.content_topics)),
            time_start=query.time_start,
            time_end=query.time_end,
            hashes=tuple(dict.fromkeys(query.message_hashes)),
            cursor=query.cursor,
            forward=query.forward,
            limit=page_size(query.limit, self.limits),
            include_data=query.include_data,
        )


def page_size(requested: int | None, limits: StoreLimits) -> int:
    """nwaku's rule: unset or 0 -> the default; above the maximum -> the maximum."""
    if not requested:
        return limits.default_page_size
    return min(requested, limits.max_page_size)


def check_query(query: StoreQuery, limits: StoreLimits) -> None:
    def bad(why: str) -> StoreRefusal:
        return StoreRefusal(why, StoreStatus.BAD_REQUEST)

    if not query.request_id:
        raise bad("request_id is missing")
    if query.content_topics and query.pubsub_topic is None:
        raise bad("content_topics given without pubsub_topic")
    if query.message_hashes and (query.content_topics or query.time_start is not None
                                 or query.time_end is not None):
        raise bad("message_hashes cannot be combined with content_topics or a time range")
    if len(query.content_topics) > limits.max_content_topics:
        raise bad(f"{len(query.content_topics)} content topics, at most {limits.max_content_topics} allowed")
    if len(query.message_hashes) > limits.max_hashes:
        raise bad(f"{len(query.message_hashes)} message hashes, at most {limits.max_hashes} allowed")
    for digest in query.message_hashes:
        if len(digest) != HASH_BYTES:
            raise bad(f"invalid message hash length: {len(digest)}")
    if query.cursor is not None:
        if len(query.cursor) != HASH_BYTES:
            raise bad(f"invalid cursor hash length: {len(query.cursor)}")
        if not any(query.cursor):
            raise bad("all zeroes cursor hash")


def answer(query: StoreQuery, page: ArchivePage) -> StoreResponse:
    """A successful response. Entries are in forward order whatever the query's direction
    (spec: "MUST be ordered in a forward direction"); the cursor is the archive's."""
    rows = sorted(page.messages, key=lambda m: (m.timestamp, m.hash))
    return StoreResponse(
        request_id=query.request_id,
        status_code=StoreStatus.SUCCESS,
        status_desc="OK",
        messages=tuple(_entry(row, query.include_data) for row in rows),
        cursor=page.cursor,
    )


def _entry(row: StoredMessage, include_data: bool) -> StoreEntry:
    if not include_data:
        return StoreEntry(row.hash)
    return StoreEntry(row.hash, decode_message(row.data), row.pubsub_topic)


def archive_failure_status(exc: BaseException) -> int:
    """503 when the database cannot serve right now (a DB-API OperationalError/InterfaceError
    or an OSError, raised or chained under ArchiveError: locked, disconnected, disk full...),
    500 for anything else (a corrupt file, a bug)."""
    seen: BaseException | None = exc
    while seen is not None:
        names = {cls.__name__ for cls in type(seen).__mro__}
        if names & _UNAVAILABLE_ERRORS or isinstance(seen, OSError):
            return StoreStatus.SERVICE_UNAVAILABLE
        seen = seen.__cause__
    return StoreStatus.INTERNAL_ERROR
