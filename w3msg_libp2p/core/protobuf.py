"""Bounded protobuf parsing for every codec: an oversized message is refused (413) before
parsing, a malformed one is the sender's fault (400). Nothing else escapes."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from .errors import RemoteProtocolError

M = TypeVar("M", bound=Message)


def parse_bounded(msg: M, data: bytes, max_size: int | None = None, what: str | None = None) -> M:
    """Parse ``data`` into the (empty) ``msg`` and return it."""
    name = what or msg.DESCRIPTOR.name
    if max_size is not None and len(data) > max_size:
        raise RemoteProtocolError(f"{name} is {len(data)} bytes, limit {max_size}", 413)
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise RemoteProtocolError(f"malformed {name}: {exc}", 400) from None
    return msg
