"""Lightpush v3 and v2 as plain data, status codes, and the errors a client raises."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ...core.errors import RemoteProtocolError
from ...core.message import WakuMessage

LIGHTPUSH_V3 = "/vac/waku/lightpush/3.0.0"
LIGHTPUSH_V2 = "/vac/waku/lightpush/2.0.0-beta1"
LIGHTPUSH_PROTOCOLS = (LIGHTPUSH_V3, LIGHTPUSH_V2)  # preference order

# What nwaku writes as request_id where it cannot know the request's (refused before decoding).
UNKNOWN_REQUEST_ID = "N/A"


class LightpushStatus(IntEnum):
    """v3 status codes (waku-org/specs standards/core/lightpush.md; they double as HTTP codes)."""

    SUCCESS = 200
    BAD_REQUEST = 400
    PAYLOAD_TOO_LARGE = 413
    INVALID_MESSAGE = 420
    UNSUPPORTED_PUBSUB_TOPIC = 421
    TOO_MANY_REQUESTS = 429
    INTERNAL_SERVER_ERROR = 500
    # The spec's code for "no relay peers", and what we send. nwaku >= 0.35 and js-waku send
    # 505 for it and use 503 for SERVICE_NOT_AVAILABLE; a client must accept both.
    NO_PEERS_TO_RELAY = 503
    OUT_OF_RLN_PROOF = 504
    NWAKU_NO_PEERS_TO_RELAY = 505


# v2 has no status code, only is_success and free text; these texts are nwaku's.
V2_INFO_SUCCESS = "OK"
V2_INFO_TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
V2_INFO_NOT_PUBLISHED = "not_published_to_any_peer"
V2_INFO_EMPTY_REQUEST = "empty_request_body_failure"
DECODE_FAILURE = "decode_rpc_failure"
V3_TOO_MANY_REQUESTS = "Request rejected due to too many requests"
GO_WAKU_TOO_MANY_REQUESTS = "exceeds the rate limit"  # go-waku's v2 text (1 request/s per peer)


# -- v3 --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LightpushRequest:
    request_id: str
    message: WakuMessage
    pubsub_topic: str | None = None  # None: the service node autoshards by content topic


@dataclass(frozen=True, slots=True)
class LightpushResponse:
    request_id: str
    status_code: int
    status_desc: str | None = None
    relay_peer_count: int | None = None


# -- v2 --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushRequest:
    pubsub_topic: str
    message: WakuMessage


@dataclass(frozen=True, slots=True)
class PushResponse:
    is_success: bool
    info: str | None = None


@dataclass(frozen=True, slots=True)
class PushRpc:
    request_id: str
    request: PushRequest | None = None
    response: PushResponse | None = None


# -- client-side errors -----------------------------------------------------------------------
class LightpushRefused(RemoteProtocolError):
    """The service node answered, and refused: ``status_code`` is its (v3) status."""

    def __init__(self, description: str, status_code: int, peer: str | None = None) -> None:
        super().__init__(f"lightpush refused ({status_code}): {description}", status_code)
        self.description = description
        self.peer = peer


class BadRequest(LightpushRefused):
    pass


class PayloadTooLarge(LightpushRefused):
    pass


class InvalidMessage(LightpushRefused):
    pass


class UnsupportedPubsubTopic(LightpushRefused):
    pass


class TooManyRequests(LightpushRefused):
    pass


class NoPeersToRelay(LightpushRefused):
    pass


class ServiceError(LightpushRefused):
    """Any other refusal (internal error, RLN proof, unknown codes)."""


_ERRORS: dict[int, type[LightpushRefused]] = {
    LightpushStatus.BAD_REQUEST: BadRequest,
    LightpushStatus.PAYLOAD_TOO_LARGE: PayloadTooLarge,
    LightpushStatus.INVALID_MESSAGE: InvalidMessage,
    LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC: UnsupportedPubsubTopic,
    LightpushStatus.TOO_MANY_REQUESTS: TooManyRequests,
    LightpushStatus.NO_PEERS_TO_RELAY: NoPeersToRelay,
    LightpushStatus.NWAKU_NO_PEERS_TO_RELAY: NoPeersToRelay,
}


def refusal_error(status_code: int, description: str, peer: str | None = None) -> LightpushRefused:
    """The typed error for a refusal with this status code."""
    return _ERRORS.get(status_code, ServiceError)(description, status_code, peer)
