"""Lightpush service logic, free of streams: check a pushed message, publish it through a
callable, answer in v3 or v2 form.

The relay is seen through ``RelayView`` (what it relays, what its validator says, how many
peers a publish would reach) so the rules here are testable without a network. Status codes
follow waku-org/specs standards/core/lightpush.md; texts follow nwaku where nwaku has one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, encode_message
from ...core.errors import PublishError, TopicError
from ...core.message import WakuMessage
from ...core.topics import autoshard_pubsub_topic, parse_content_topic, parse_pubsub_topic
from . import codec
from .rpc import (
    DECODE_FAILURE,
    UNKNOWN_REQUEST_ID,
    V2_INFO_EMPTY_REQUEST,
    V2_INFO_NOT_PUBLISHED,
    V2_INFO_SUCCESS,
    V2_INFO_TOO_MANY_REQUESTS,
    V3_TOO_MANY_REQUESTS,
    LightpushResponse,
    LightpushStatus,
    PushResponse,
    PushRpc,
)

log = logging.getLogger(__name__)

NO_PEERS_DESC = "No peers for topic, skipping publish"  # nwaku's wording


class RelayView(Protocol):
    """What the lightpush rules need to know about the local relay."""

    @property
    def cluster_id(self) -> int: ...

    @property
    def num_shards(self) -> int: ...

    def relays(self, pubsub_topic: str) -> bool:
        """True if this node relays ``pubsub_topic`` (is subscribed to it)."""

    def refusal(self, pubsub_topic: str, data: bytes) -> str | None:
        """Why the relay would not publish this encoded message (invalid, already seen), or None."""

    def peer_count(self, pubsub_topic: str) -> int:
        """How many relay peers a publish on ``pubsub_topic`` would reach now."""


Publisher = Callable[[str, WakuMessage], Awaitable[object]]  # raises PublishError / TopicError


@dataclass(frozen=True, slots=True)
class PushOutcome:
    status: int
    description: str | None = None
    relay_peer_count: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == LightpushStatus.SUCCESS


@dataclass(frozen=True, slots=True)
class Publish:
    """The checks passed: publish ``message`` on ``pubsub_topic``."""

    pubsub_topic: str
    message: WakuMessage
    relay_peer_count: int


def _refused(status: LightpushStatus, description: str) -> PushOutcome:
    return PushOutcome(int(status), description)


def resolve_topic(pubsub_topic: str | None, message: WakuMessage, view: RelayView) -> str | PushOutcome:
    """The pubsub topic to publish on (given, or autosharded from the content topic)."""
    try:
        parse_content_topic(message.content_topic)
    except TopicError as exc:
        return _refused(LightpushStatus.INVALID_MESSAGE, f"Invalid content-topic: {exc}")
    if pubsub_topic is None:
        return autoshard_pubsub_topic(message.content_topic, view.cluster_id, view.num_shards)
    try:
        shard = parse_pubsub_topic(pubsub_topic)
    except TopicError as exc:
        return _refused(LightpushStatus.BAD_REQUEST, f"invalid pubsub topic: {exc}")
    if shard is not None and shard.cluster_id != view.cluster_id:
        return _refused(LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC,
                        f"pubsub topic {pubsub_topic} is in cluster {shard.cluster_id}, "
                        f"this node serves cluster {view.cluster_id}")
    return pubsub_topic


def check_push(pubsub_topic: str | None, message: WakuMessage, view: RelayView) -> Publish | PushOutcome:
    """Every rule a pushed message must pass before it is published, in nwaku's order of
    concern: size, topic, relay validation, relay peers."""
    data = encode_message(message)
    if len(data) > MAX_WAKU_MESSAGE_BYTES:
        return _refused(LightpushStatus.PAYLOAD_TOO_LARGE,
                        f"Message size {len(data)} exceeded maximum of {MAX_WAKU_MESSAGE_BYTES} bytes")
    topic = resolve_topic(pubsub_topic, message, view)
    if isinstance(topic, PushOutcome):
        return topic
    if not view.relays(topic):
        return _refused(LightpushStatus.UNSUPPORTED_PUBSUB_TOPIC, f"this node does not relay pubsub topic {topic}")
    reason = view.refusal(topic, data)
    if reason is not None:
        return _refused(LightpushStatus.INVALID_MESSAGE, reason)
    peers = view.peer_count(topic)
    if peers == 0:
        return _refused(LightpushStatus.NO_PEERS_TO_RELAY, NO_PEERS_DESC)
    return Publish(topic, message, peers)


# -- answers -----------------------------------------------------------------------------------
def v3_response(request_id: str, outcome: PushOutcome) -> LightpushResponse:
    if outcome.ok:
        return LightpushResponse(request_id, outcome.status, None, outcome.relay_peer_count)
    return LightpushResponse(request_id, outcome.status, outcome.description)


def v2_info(outcome: PushOutcome) -> str:
    """v2 has only free text; nwaku's texts where a v2 client may act on them."""
    if outcome.ok:
        return V2_INFO_SUCCESS
    if outcome.status == LightpushStatus.TOO_MANY_REQUESTS:
        return V2_INFO_TOO_MANY_REQUESTS
    if outcome.status == LightpushStatus.NO_PEERS_TO_RELAY:
        return V2_INFO_NOT_PUBLISHED
    return outcome.description or f"refused with status {outcome.status}"


def v2_response(request_id: str, outcome: PushOutcome) -> PushRpc:
    return PushRpc(request_id, response=PushResponse(outcome.ok, v2_info(outcome)))


def _refusal_outcome(status: int, description: str) -> PushOutcome:
    if status == LightpushStatus.TOO_MANY_REQUESTS:
        description = V3_TOO_MANY_REQUESTS
    elif status == LightpushStatus.BAD_REQUEST:
        description = f"{DECODE_FAILURE}: {description}"
    return PushOutcome(status, description)


def refuse_v3(status: int, description: str) -> bytes:
    """The v3 answer to a request refused before it was decoded (its id is unknown)."""
    return codec.encode_response(v3_response(UNKNOWN_REQUEST_ID, _refusal_outcome(status, description)))


def refuse_v2(status: int, description: str) -> bytes:
    return codec.encode_push_rpc(v2_response(UNKNOWN_REQUEST_ID, _refusal_outcome(status, description)))


# -- the handler --------------------------------------------------------------------------------
class LightpushServer:
    """Decodes, checks, publishes and answers; counts every outcome by status name."""

    def __init__(self, view: RelayView, publish: Publisher) -> None:
        self.view = view
        self.publish = publish
        self.outcomes: Counter[str] = Counter()

    async def push(self, peer: str, pubsub_topic: str | None, message: WakuMessage) -> PushOutcome:
        outcome = await self._push(pubsub_topic, message)
        self.outcomes[_label(outcome.status)] += 1
        if not outcome.ok:
            log.debug("lightpush from %s refused (%d): %s", peer, outcome.status, outcome.description)
        return outcome

    async def _push(self, pubsub_topic: str | None, message: WakuMessage) -> PushOutcome:
        decision = check_push(pubsub_topic, message, self.view)
        if isinstance(decision, PushOutcome):
            return decision
        try:
            await self.publish(decision.pubsub_topic, decision.message)
        except PublishError as exc:  # a race with the checks above: peers left, queues full
            return _refused(LightpushStatus.NO_PEERS_TO_RELAY, f"publish failed: {exc}")
        except TopicError as exc:
            return _refused(LightpushStatus.BAD_REQUEST, f"invalid pubsub topic: {exc}")
        return PushOutcome(int(LightpushStatus.SUCCESS), None, decision.relay_peer_count)

    async def handle_v3(self, peer: str, data: bytes) -> bytes:
        request = codec.decode_request(data)  # RemoteProtocolError: the adapter answers 400/413
        outcome = await self.push(peer, request.pubsub_topic, request.message)
        return codec.encode_response(v3_response(request.request_id, outcome))

    async def handle_v2(self, peer: str, data: bytes) -> bytes:
        rpc = codec.decode_push_rpc(data)
        if rpc.request is None:
            self.outcomes[_label(LightpushStatus.BAD_REQUEST)] += 1
            return codec.encode_push_rpc(PushRpc(rpc.request_id, response=PushResponse(False, V2_INFO_EMPTY_REQUEST)))
        outcome = await self.push(peer, rpc.request.pubsub_topic, rpc.request.message)
        return codec.encode_push_rpc(v2_response(rpc.request_id, outcome))

    def statistics(self) -> dict[str, Any]:
        return dict(self.outcomes)


def _label(status: int) -> str:
    try:
        return LightpushStatus(status).name.lower()
    except ValueError:
        return f"status_{status}"

