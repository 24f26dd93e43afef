"""WakuMessage <-> protobuf bytes. The only core module that imports generated protobuf."""

from __future__ import annotations

from ..pb import waku_message_pb2 as pb
from .errors import RemoteProtocolError
from .message import MAX_META_BYTES, WakuMessage
from .protobuf import parse_bounded

MAX_WAKU_MESSAGE_BYTES = 150 * 1024


def encode_message(message: WakuMessage) -> bytes:
    return to_proto(message).SerializeToString()


def to_proto(message: WakuMessage) -> pb.WakuMessage:
    out = pb.WakuMessage(payload=message.payload, content_topic=message.content_topic)
    if message.version is not None:
        out.version = message.version
    if message.timestamp is not None:
        out.timestamp = message.timestamp
    if message.meta is not None:
        out.meta = message.meta
    if message.rate_limit_proof is not None:
        out.rate_limit_proof = message.rate_limit_proof
    if message.ephemeral is not None:
        out.ephemeral = message.ephemeral
    return out


def from_proto(msg: pb.WakuMessage) -> WakuMessage:
    if msg.HasField("meta") and len(msg.meta) > MAX_META_BYTES:
        raise RemoteProtocolError(f"meta is {len(msg.meta)} bytes, at most {MAX_META_BYTES} allowed", 400)
    return WakuMessage(
        payload=msg.payload,
        content_topic=msg.content_topic,
        version=msg.version if msg.HasField("version") else None,
        timestamp=msg.timestamp if msg.HasField("timestamp") else None,
        meta=msg.meta if msg.HasField("meta") else None,
        rate_limit_proof=msg.rate_limit_proof if msg.HasField("rate_limit_proof") else None,
        ephemeral=msg.ephemeral if msg.HasField("ephemeral") else None,
    )


def decode_message(data: bytes, max_size: int = MAX_WAKU_MESSAGE_BYTES) -> WakuMessage:
    return from_proto(parse_bounded(pb.WakuMessage(), data, max_size))
