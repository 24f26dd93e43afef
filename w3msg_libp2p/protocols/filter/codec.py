"""Filter v2 rpc <-> protobuf bytes. The only filter module that imports generated protobuf.

Sizes are checked before parsing; anything malformed is a RemoteProtocolError (400, or 413 when
too large).
"""

from __future__ import annotations

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, from_proto, to_proto
from ...core.errors import RemoteProtocolError
from ...core.protobuf import parse_bounded
from ...pb import filter_pb2 as pb
from .rpc import MessagePush, SubscribeRequest, SubscribeResponse, SubscribeType

# A request carries at most max-content-topics-per-request topics (100 by default, each at most
# 1 KiB long): 256 KiB is generous and still bounds what one request can make us hold.
MAX_REQUEST_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 64 * 1024  # nwaku's DefaultMaxSubscribeResponseSize
MAX_PUSH_BYTES = MAX_WAKU_MESSAGE_BYTES + 64 * 1024  # one message plus framing and topic


# -- subscribe request ---------------------------------------------------------------------------
def encode_request(request: SubscribeRequest) -> bytes:
    out = pb.FilterSubscribeRequest(
        request_id=request.request_id,
        filter_subscribe_type=int(request.subscribe_type),  # type: ignore[arg-type]
        content_topics=request.content_topics,
    )
    if request.pubsub_topic is not None:
        out.pubsub_topic = request.pubsub_topic
    return out.SerializeToString()


def decode_request(data: bytes, limit: int = MAX_REQUEST_BYTES) -> SubscribeRequest:
    msg = parse_bounded(pb.FilterSubscribeRequest(), data, limit)
    raw_type = int(msg.filter_subscribe_type)
    try:
        subscribe_type: SubscribeType | int = SubscribeType(raw_type)
    except ValueError:  # kept, so the server can answer 400 under the request's own id
        subscribe_type = raw_type
    return SubscribeRequest(
        request_id=msg.request_id,
        subscribe_type=subscribe_type,
        pubsub_topic=msg.pubsub_topic if msg.HasField("pubsub_topic") else None,
        content_topics=tuple(msg.content_topics),
    )


# -- subscribe response --------------------------------------------------------------------------
def encode_response(response: SubscribeResponse) -> bytes:
    out = pb.FilterSubscribeResponse(request_id=response.request_id, status_code=response.status_code)
    if response.status_desc is not None:
        out.status_desc = response.status_desc
    return out.SerializeToString()


def decode_response(data: bytes, limit: int = MAX_RESPONSE_BYTES) -> SubscribeResponse:
    msg = parse_bounded(pb.FilterSubscribeResponse(), data, limit)
    return SubscribeResponse(
        request_id=msg.request_id,
        status_code=msg.status_code,
        status_desc=msg.status_desc if msg.HasField("status_desc") else None,
    )


# -- push ----------------------------------------------------------------------------------------
def encode_push(push: MessagePush) -> bytes:
    out = pb.MessagePush(waku_message=to_proto(push.message))
    if push.pubsub_topic is not None:
        out.pubsub_topic = push.pubsub_topic
    return out.SerializeToString()


def decode_push(data: bytes, limit: int = MAX_PUSH_BYTES) -> MessagePush:
    msg = parse_bounded(pb.MessagePush(), data, limit)
    if not msg.HasField("waku_message"):
        raise RemoteProtocolError("MessagePush without a waku_message", 400)
    return MessagePush(
        message=from_proto(msg.waku_message),
        pubsub_topic=msg.pubsub_topic if msg.HasField("pubsub_topic") else None,
    )
