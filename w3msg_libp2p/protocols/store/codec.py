"""Store v3 wire codec: StoreQueryRequest / StoreQueryResponse <-> rpc dataclasses.

The only store module importing generated protobuf. Sizes are checked before parsing; anything
a peer sent that does not parse is a RemoteProtocolError (400), never another exception.
"""

from __future__ import annotations

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, from_proto, to_proto
from ...core.errors import LocalProtocolError, RemoteProtocolError
from ...core.protobuf import parse_bounded
from ...pb import store_pb2 as pb
from .rpc import StoreEntry, StoreQuery, StoreResponse

# A query is small: even 1000 hashes (34 bytes each on the wire) fit with room to spare.
MAX_QUERY_BYTES = 64 * 1024
# A full page of the largest messages, with their keys and topics.
ENTRY_OVERHEAD_BYTES = 1024
MAX_RESPONSE_BYTES = 100 * (MAX_WAKU_MESSAGE_BYTES + ENTRY_OVERHEAD_BYTES) + 4096


# -- requests ------------------------------------------------------------------------------------
def encode_query(query: StoreQuery) -> bytes:
    """Raises LocalProtocolError for values the wire cannot carry (e.g. a negative limit)."""
    try:
        return _query_proto(query).SerializeToString()
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"store query cannot be encoded: {exc}") from None


def _query_proto(query: StoreQuery) -> pb.StoreQueryRequest:
    msg = pb.StoreQueryRequest(
        request_id=query.request_id,
        include_data=query.include_data,
        content_topics=list(query.content_topics),
        message_hashes=list(query.message_hashes),
        pagination_forward=query.forward,
    )
    if query.pubsub_topic is not None:
        msg.pubsub_topic = query.pubsub_topic
    if query.time_start is not None:
        msg.time_start = query.time_start
    if query.time_end is not None:
        msg.time_end = query.time_end
    if query.cursor is not None:
        msg.pagination_cursor = query.cursor
    if query.limit is not None:
        msg.pagination_limit = query.limit
    return msg


def decode_query(data: bytes, max_size: int = MAX_QUERY_BYTES) -> StoreQuery:
    """A StoreQueryRequest exactly as sent: absent optional fields are None, absent flags False."""
    if len(data) > max_size:
        raise RemoteProtocolError(f"StoreQueryRequest is {len(data)} bytes, limit {max_size}", 413)
    msg = pb.StoreQueryRequest()
    _parse(msg, data, "StoreQueryRequest")
    return StoreQuery(
        request_id=msg.request_id,
        include_data=msg.include_data,
        pubsub_topic=msg.pubsub_topic if msg.HasField("pubsub_topic") else None,
        content_topics=tuple(msg.content_topics),
        time_start=msg.time_start if msg.HasField("time_start") else None,
        time_end=msg.time_end if msg.HasField("time_end") else None,
        message_hashes=tuple(msg.message_hashes),
        cursor=msg.pagination_cursor if msg.HasField("pagination_cursor") else None,
        forward=msg.pagination_forward,
        limit=msg.pagination_limit if msg.HasField("pagination_limit") else None,
    )


# -- responses -----------------------------------------------------------------------------------
def encode_response(response: StoreResponse) -> bytes:
    msg = pb.StoreQueryResponse(
        request_id=response.request_id,
        status_code=response.status_code,
        status_desc=response.status_desc,
    )
    for entry in response.messages:
        kv = msg.messages.add(message_hash=entry.message_hash)
        if entry.message is not None:
            kv.message.CopyFrom(to_proto(entry.message))
        if entry.pubsub_topic is not None:
            kv.pubsub_topic = entry.pubsub_topic
    if response.cursor is not None:
        msg.pagination_cursor = response.cursor
    return msg.SerializeToString()


def decode_response(data: bytes, max_size: int = MAX_RESPONSE_BYTES) -> StoreResponse:
    """A StoreQueryResponse; an absent status code reads as 0 (not a success)."""
    if len(data) > max_size:
        raise RemoteProtocolError(f"StoreQueryResponse is {len(data)} bytes, limit {max_size}", 413)
    msg = pb.StoreQueryResponse()
    _parse(msg, data, "StoreQueryResponse")
    entries = []
    for kv in msg.messages:
        if not kv.HasField("message_hash"):
            raise RemoteProtocolError("StoreQueryResponse entry without a message_hash", 400)
        entries.append(StoreEntry(
            message_hash=kv.message_hash,
            message=from_proto(kv.message) if kv.HasField("message") else None,
            pubsub_topic=kv.pubsub_topic if kv.HasField("pubsub_topic") else None,
        ))
    return StoreResponse(
        request_id=msg.request_id,
        status_code=msg.status_code,
        status_desc=msg.status_desc,
        messages=tuple(entries),
        cursor=msg.pagination_cursor if msg.HasField("pagination_cursor") else None,
    )


def _parse(msg: pb.StoreQueryRequest | pb.StoreQueryResponse, data: bytes, what: str) -> None:
    parse_bounded(msg, data, None, what)  # sizes are bounded by the stream adapter
