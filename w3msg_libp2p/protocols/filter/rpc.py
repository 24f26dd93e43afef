"""Filter v2 messages (12/WAKU2-FILTER) as frozen dataclasses, and the status codes nwaku uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ...core.errors import RemoteProtocolError
from ...core.message import WakuMessage

FILTER_SUBSCRIBE = "/vac/waku/filter-subscribe/2.0.0-beta1"
FILTER_PUSH = "/vac/waku/filter-push/2.0.0-beta1"


class SubscribeType(IntEnum):
    SUBSCRIBER_PING = 0
    SUBSCRIBE = 1
    UNSUBSCRIBE = 2
    UNSUBSCRIBE_ALL = 3


class Status(IntEnum):
    """nwaku's FilterSubscribeErrorKind values, plus 200 for success."""

    OK = 200
    BAD_RESPONSE = 300  # client side only: the service's answer made no sense
    BAD_REQUEST = 400
    NOT_FOUND = 404
    TOO_MANY_REQUESTS = 429
    SERVICE_UNAVAILABLE = 503
    PEER_DIAL_FAILURE = 504  # client side only: the service peer could not be reached


class Refusal(RemoteProtocolError):
    """A request the service answers with an error status; ``reason`` labels it in metrics."""

    def __init__(self, cause: str, status: Status, reason: str) -> None:
        super().__init__(cause, status)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    request_id: str
    # an int outside SubscribeType when a peer sends an unknown type (answered with 400)
    subscribe_type: SubscribeType | int
    pubsub_topic: str | None = None
    content_topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubscribeResponse:
    request_id: str
    status_code: int
    status_desc: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class MessagePush:
    message: WakuMessage
    pubsub_topic: str | None = None


def describe(status: int, cause: str) -> str:
    """A status description worded as nwaku words it (``"NOT_FOUND: peer has no subscriptions"``):
    nwaku's REST API passes the service's description through to its callers."""
    try:
        return f"{Status(status).name}: {cause}"
    except ValueError:
        return cause


def ok_response(request_id: str) -> SubscribeResponse:
    return SubscribeResponse(request_id, Status.OK, "OK")


def error_response(request_id: str, status: Status, cause: str) -> SubscribeResponse:
    return SubscribeResponse(request_id, status, describe(status, cause))
