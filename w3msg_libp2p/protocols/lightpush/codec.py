"""Lightpush v3 and v2 wire codec: protobuf bytes <-> rpc dataclasses.

The only lightpush module importing generated protobuf. Sizes are checked before parsing; what a
peer sent that does not parse, or lacks a field nwaku requires, is a RemoteProtocolError (400).
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, from_proto, to_proto
from ...core.errors import LocalProtocolError, RemoteProtocolError
from ...core.protobuf import parse_bounded
from ...pb import lightpush_pb2 as pb
from .rpc import LightpushRequest, LightpushResponse, PushRequest, PushResponse, PushRpc

# A request carries one WakuMessage plus a topic (<= 1024 characters) and a request id.
REQUEST_OVERHEAD_BYTES = 4096
MAX_REQUEST_BYTES = MAX_WAKU_MESSAGE_BYTES + REQUEST_OVERHEAD_BYTES
MAX_RESPONSE_BYTES = 64 * 1024


def _serialize(build: Callable[[], Message], what: str) -> bytes:
    try:
        return build().SerializeToString()
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError(f"{what} cannot be encoded: {exc}") from None


# -- v3 --------------------------------------------------------------------------------------
def encode_request(request: LightpushRequest) -> bytes:
    def build() -> pb.LightPushRequest:
        msg = pb.LightPushRequest(request_id=request.request_id, message=to_proto(request.message))
        if request.pubsub_topic is not None:
            msg.pubsub_topic = request.pubsub_topic
        return msg

    return _serialize(build, "LightPushRequest")


def decode_request(data: bytes, max_size: int = MAX_REQUEST_BYTES) -> LightpushRequest:
    msg = pb.LightPushRequest()
    parse_bounded(msg, data, max_size, "LightPushRequest")
    if not msg.HasField("message"):
        raise RemoteProtocolError("LightPushRequest has no message", 400)
    return LightpushRequest(
        request_id=msg.request_id,
        message=from_proto(msg.message),
        pubsub_topic=msg.pubsub_topic if msg.HasField("pubsub_topic") else None,
    )


def encode_response(response: LightpushResponse) -> bytes:
    def build() -> pb.LightPushResponse:
        msg = pb.LightPushResponse(request_id=response.request_id, status_code=response.status_code)
        if response.status_desc is not None:
            msg.status_desc = response.status_desc
        if response.relay_peer_count is not None:
            msg.relay_peer_count = response.relay_peer_count
        return msg

    return _serialize(build, "LightPushResponse")


def decode_response(data: bytes, max_size: int = MAX_RESPONSE_BYTES) -> LightpushResponse:
    msg = pb.LightPushResponse()
    parse_bounded(msg, data, max_size, "LightPushResponse")
    if not msg.HasField("status_code"):
        raise RemoteProtocolError("LightPushResponse has no status_code", 400)
    return LightpushResponse(
        request_id=msg.request_id,
        status_code=msg.status_code,
        status_desc=msg.status_desc if msg.HasField("status_desc") else None,
        relay_peer_count=msg.relay_peer_count if msg.HasField("relay_peer_count") else None,
    )


# -- v2 --------------------------------------------------------------------------------------
def encode_push_rpc(rpc: PushRpc) -> bytes:
    def build() -> pb.PushRpc:
        msg = pb.PushRpc(request_id=rpc.request_id)
        if rpc.request is not None:
            msg.request.pubsub_topic = rpc.request.pubsub_topic
            msg.request.message.CopyFrom(to_proto(rpc.request.message))
        if rpc.response is not None:
            msg.response.is_success = rpc.response.is_success
            if rpc.response.info is not None:
                msg.response.info = rpc.response.info
        return msg

    return _serialize(build, "PushRpc")


def decode_push_rpc(data: bytes, max_size: int = MAX_REQUEST_BYTES) -> PushRpc:
    msg = pb.PushRpc()
    parse_bounded(msg, data, max_size, "PushRpc")
    request = response = None
    if msg.HasField("request"):
        req = msg.request
        if not req.HasField("pubsub_topic") or not req.HasField("message"):
            raise RemoteProtocolError("PushRequest needs a pubsub_topic and a message", 400)
        request = PushRequest(req.pubsub_topic, from_proto(req.message))
    if msg.HasField("response"):
        resp = msg.response
        # go-waku's PushResponse has a plain proto3 bool, so its refusals leave is_success out:
        # absent reads as false (we still always write it: nwaku requires it)
        response = PushResponse(resp.is_success, resp.info if resp.HasField("info") else None)
    return PushRpc(request_id=msg.request_id, request=request, response=response)
