"""Peer exchange messages as frozen dataclasses (wire format in proto/.../peer_exchange.proto)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

PROTOCOL_ID = "/vac/waku/peer-exchange/2.0.0-alpha1"
DEFAULT_NUM_PEERS = 5  # what nwaku's client asks for


class StatusCode(IntEnum):
    """nwaku's PeerExchangeResponseStatusCode."""

    SUCCESS = 200
    BAD_REQUEST = 400
    BAD_RESPONSE = 401
    TOO_MANY_REQUESTS = 429
    SERVICE_UNAVAILABLE = 503
    DIAL_FAILURE = 599


@dataclass(frozen=True, slots=True)
class PeerExchangeQuery:
    num_peers: int


@dataclass(frozen=True, slots=True)
class PeerExchangeResponse:
    enrs: tuple[bytes, ...] = ()  # RLP-encoded records, unverified until parsed
    status_code: int = StatusCode.SUCCESS
    status_desc: str | None = None
