"""The filter service's rules: one subscribe request in, one response out, as nwaku answers.
Pure: no trio, no libp2p; ``now`` is passed in.

| request         | answer                                                                    |
|-----------------|---------------------------------------------------------------------------|
| SUBSCRIBER_PING | 200 if the peer has a live subscription (which the ping refreshes), 404   |
| SUBSCRIBE       | 200; 400 no pubsub topic / no or too many content topics; 503 limits hit |
| UNSUBSCRIBE     | 200; 400 as for SUBSCRIBE; 404 if the peer has no subscription            |
| UNSUBSCRIBE_ALL | 200; 404 if the peer has no subscription                                  |
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import TopicError
from ...core.topics import MAX_TOPIC_LENGTH, parse_pubsub_topic
from .rpc import (
    Refusal,
    Status,
    SubscribeRequest,
    SubscribeResponse,
    SubscribeType,
    error_response,
    ok_response,
)
from .subscriptions import Criterion, SubscriptionTable


@dataclass(slots=True)
class ServerStats:
    requests: Counter[str] = field(default_factory=Counter)  # by request type
    responses: Counter[int] = field(default_factory=Counter)  # by status code
    refusals: Counter[str] = field(default_factory=Counter)  # non-200 answers, by reason

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "responses": dict(self.responses),
                "refusals": dict(self.refusals)}


class FilterServer:
    def __init__(self, table: SubscriptionTable, max_content_topics_per_request: int = 100) -> None:
        self.table = table
        self.max_content_topics = max_content_topics_per_request
        self.stats = ServerStats()

    def handle(self, peer: str, request: SubscribeRequest, now: float) -> SubscribeResponse:
        kind = request.subscribe_type
        self.stats.requests[kind.name if isinstance(kind, SubscribeType) else "unknown"] += 1
        try:
            self._apply(peer, request, now)
        except Refusal as exc:
            self.stats.responses[exc.status] += 1
            self.stats.refusals[exc.reason] += 1
            return error_response(request.request_id, exc.status, str(exc))
        self.stats.responses[Status.OK] += 1
        return ok_response(request.request_id)

    def subscribers(self, pubsub_topic: str, content_topic: str, now: float) -> list[str]:
        """The peers a message on ``pubsub_topic`` with ``content_topic`` is pushed to."""
        return self.table.peers_for(pubsub_topic, content_topic, now)

    def expire(self, now: float) -> list[str]:
        return self.table.expire(now)

    # -- the rules -----------------------------------------------------------------------------
    def _apply(self, peer: str, request: SubscribeRequest, now: float) -> None:
        if not request.request_id:
            raise Refusal("request_id is required", Status.BAD_REQUEST, "missing_request_id")
        match request.subscribe_type:
            case SubscribeType.SUBSCRIBER_PING:
                if not self.table.refresh(peer, now):
                    raise Refusal("peer has no subscriptions", Status.NOT_FOUND, "not_subscribed")
            case SubscribeType.SUBSCRIBE:
                self.table.add(peer, self._criteria(request), now)
            case SubscribeType.UNSUBSCRIBE:
                self.table.remove(peer, self._criteria(request), now)
            case SubscribeType.UNSUBSCRIBE_ALL:
                if not self.table.is_subscribed(peer, now):
                    raise Refusal("peer has no subscriptions", Status.NOT_FOUND, "not_subscribed")
                self.table.remove_peer(peer)
            case other:
                raise Refusal(f"unknown filter subscribe type {other}", Status.BAD_REQUEST, "unknown_type")

    def _criteria(self, request: SubscribeRequest) -> list[Criterion]:
        topic, content_topics = request.pubsub_topic, request.content_topics
        if topic is None or not content_topics:
            raise Refusal("pubsubTopic and contentTopics must be specified", Status.BAD_REQUEST,
                          "missing_criteria")
        if len(content_topics) > self.max_content_topics:
            raise Refusal(f"exceeds maximum content topics: {self.max_content_topics}", Status.BAD_REQUEST,
                          "too_many_content_topics")
        try:
            parse_pubsub_topic(topic)
        except TopicError as exc:
            raise Refusal(f"invalid pubsub topic: {exc}", Status.BAD_REQUEST, "invalid_pubsub_topic") from None
        # Content topics are matched as strings, as nwaku does (it accepts any non-empty one);
        # only their size is bounded here.
        for content_topic in content_topics:
            if not content_topic or len(content_topic) > MAX_TOPIC_LENGTH:
                raise Refusal(f"content topics must be non-empty and at most {MAX_TOPIC_LENGTH} characters",
                              Status.BAD_REQUEST, "invalid_content_topic")
        return [(topic, ct) for ct in content_topics]
