"""What the relay router tells its adapter, besides the bytes to send."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deliver:
    topic: str
    msg_id: bytes
    data: bytes
    received_from: str | None  # None: published by us
    parsed: object = None  # the validator's parse of ``data``, if it made one


@dataclass(frozen=True, slots=True)
class DisconnectPeer:
    peer: str
    reason: str


RouterEvent = Deliver | DisconnectPeer
