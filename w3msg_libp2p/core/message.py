"""WakuMessage (14/WAKU2-MESSAGE) and its deterministic hash."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

MAX_META_BYTES = 64


@dataclass(frozen=True, slots=True)
class WakuMessage:
    payload: bytes
    content_topic: str
    version: int | None = None
    timestamp: int | None = None  # unix nanoseconds
    meta: bytes | None = None
    rate_limit_proof: bytes | None = None
    ephemeral: bool | None = None


def message_hash(pubsub_topic: str, message: WakuMessage) -> bytes:
    """sha256(pubsub_topic || payload || content_topic || meta || timestamp as 8-byte big-endian).

    A missing timestamp hashes as 8 zero bytes, as nwaku and go-waku do (js-waku omits it):
    the store nodes a client queries by hash are nwaku and go-waku, so we match them.
    An absent meta contributes nothing. See docs/relay.md.
    """
    h = hashlib.sha256()
    h.update(pubsub_topic.encode())
    h.update(message.payload)
    h.update(message.content_topic.encode())
    if message.meta:
        h.update(message.meta)
    h.update(struct.pack(">Q", (message.timestamp or 0) & 0xFFFFFFFFFFFFFFFF))
    return h.digest()


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message as delivered to a local subscriber."""

    pubsub_topic: str
    message: WakuMessage
    hash: bytes
    received_from: str | None  # peer id, or None if we published it
    received_at_ns: int  # our wall clock at delivery
    data: bytes | None = None  # the serialized WakuMessage exactly as it came off the wire, if known
