"""/relay/v1/...: subscriptions, publishing and polling, as nwaku serves them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio
from quart import Response
from quart_trio import QuartTrio

from ..core.errors import PublishError, TopicError
from ..core.message import WakuMessage
from ..protocols.relay.waku import WakuRelay
from .cache import MessageCache
from .parsing import (
    Refused,
    parse_content_topics,
    parse_pubsub_topics,
    parse_relay_message,
    relay_message_json,
)
from .responses import json_response, ok, read_json


class RelayApi:
    """What the relay routes do, apart from HTTP: joins/leaves meshes, keeps the cache, publishes."""

    def __init__(self, relay: WakuRelay, cache: MessageCache, content_topics: Iterable[str] = ()) -> None:
        self.relay = relay
        self.cache = cache
        # nwaku caches the topics the node was configured with, not only those subscribed over REST.
        for topic in relay.subscribed_topics:
            cache.pubsub.watch(topic)
        for content_topic in content_topics:
            cache.content.watch(content_topic)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Move delivered messages into the cache as they come (the cache bounds them, the
        subscription's buffer only absorbs bursts between two runs of this task)."""
        with self.relay.messages() as sub:
            task_status.started()
            async for env in sub:
                self.cache.add(env.pubsub_topic, env.message)

    def subscribe(self, pubsub_topics: list[str]) -> None:
        for topic in pubsub_topics:
            self.cache.pubsub.watch(topic)
            self.relay.subscribe(topic)

    def unsubscribe(self, pubsub_topics: list[str]) -> None:
        for topic in pubsub_topics:
            self.cache.pubsub.unwatch(topic)
            self._leave_if_unused(topic)

    def subscribe_content(self, content_topics: list[str]) -> None:
        for content_topic in content_topics:
            self.cache.content.watch(content_topic)
        self.relay.subscribe_content_topics(content_topics)

    def unsubscribe_content(self, content_topics: list[str]) -> None:
        for content_topic in content_topics:
            self.cache.content.unwatch(content_topic)
        for shard in {self.relay.pubsub_topic_for(ct) for ct in content_topics}:
            self._leave_if_unused(shard)

    def _leave_if_unused(self, pubsub_topic: str) -> None:
        """Leave a shard's mesh unless a REST subscription still needs it (deviation: nwaku
        leaves it even when other content topics on that shard are still subscribed)."""
        if self.cache.pubsub.watching(pubsub_topic):
            return
        if any(self.relay.pubsub_topic_for(ct) == pubsub_topic for ct in self.cache.content.keys):
            return
        if pubsub_topic in self.relay.subscribed_topics:
            self.relay.unsubscribe(pubsub_topic)

    async def publish(self, pubsub_topic: str | None, message: WakuMessage) -> None:
        try:
            await self.relay.publish(pubsub_topic, message)
        except PublishError as exc:
            raise Refused(f"Failed to publish: {exc}", reason="publish_failed") from None
        except TopicError as exc:
            raise Refused(f"Failed to publish: {exc}", reason="invalid_pubsub_topic") from None


def install_relay_routes(app: QuartTrio, api: RelayApi) -> None:
    relay = api.relay

    @app.post("/relay/v1/subscriptions")
    async def post_subscriptions() -> Response:
        api.subscribe(parse_pubsub_topics(await read_json()))
        return ok()

    @app.delete("/relay/v1/subscriptions")
    async def delete_subscriptions() -> Response:
        api.unsubscribe(parse_pubsub_topics(await read_json()))
        return ok()

    @app.post("/relay/v1/auto/subscriptions")
    async def post_auto_subscriptions() -> Response:
        api.subscribe_content(parse_content_topics(await read_json()))
        return ok()

    @app.delete("/relay/v1/auto/subscriptions")
    async def delete_auto_subscriptions() -> Response:
        api.unsubscribe_content(parse_content_topics(await read_json()))
        return ok()

    @app.get("/relay/v1/messages/<topic:pubsubTopic>")
    async def get_messages(pubsubTopic: str) -> Response:
        messages = api.cache.pubsub.take(pubsubTopic)
        if messages is None:
            raise Refused(f"Not subscribed to pubsub topic: {pubsubTopic}", 404, "not_subscribed")
        return json_response([relay_message_json(m) for m in messages])

    @app.post("/relay/v1/messages/<topic:pubsubTopic>")
    async def post_message(pubsubTopic: str) -> Response:
        # nwaku checks this first: publishing on a topic we do not relay would reach no one.
        if pubsubTopic not in relay.subscribed_topics:
            raise Refused(f"Failed to publish: Node not subscribed to topic: {pubsubTopic}",
                          reason="not_subscribed")
        message = parse_relay_message(await read_json(), relay.wall_clock_ns())
        await api.publish(pubsubTopic, message)
        return ok()

    @app.get("/relay/v1/auto/messages/<topic:contentTopic>")
    async def get_auto_messages(contentTopic: str) -> Response:
        messages = api.cache.content.take(contentTopic)
        if messages is None:
            raise Refused(f"Not subscribed to content topic: {contentTopic}", 404, "not_subscribed")
        return json_response([relay_message_json(m) for m in messages])

    @app.post("/relay/v1/auto/messages")
    async def post_auto_message() -> Response:
        message = parse_relay_message(await read_json(), relay.wall_clock_ns())
        await api.publish(None, message)
        return ok()

