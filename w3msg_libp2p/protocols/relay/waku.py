"""Waku relay as applications see it: WakuMessages on pubsub topics, subscriptions with bounded
buffers, autosharding for content topics."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.abc import IHost

from ...core.codec import MAX_WAKU_MESSAGE_BYTES, decode_message, encode_message
from ...core.errors import PublishError, RemoteProtocolError, TopicError
from ...core.message import Envelope, WakuMessage, message_hash
from ...core.topics import autoshard_pubsub_topic, parse_content_topic, parse_pubsub_topic
from ..inbox import Inbox, Subscription
from .events import Deliver
from .params import GossipParams
from .router import GossipRouter
from .service import RelayService
from .validators import WakuMessageValidator

log = logging.getLogger(__name__)

Tracer = Callable[[Envelope], None]


@dataclass
class RelayStats:
    delivered_to_subscribers: int = 0
    subscriber_drops: int = 0
    tracer_errors: int = 0


class WakuRelay:
    def __init__(
        self,
        host: IHost,
        *,
        cluster_id: int,
        num_shards: int,
        params: GossipParams,
        max_timestamp_drift: float = 20.0,
        subscriber_buffer: int = 4096,
        publish_timeout: float = 5.0,
        rng: random.Random | None = None,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.cluster_id = cluster_id
        self.num_shards = num_shards
        self.subscriber_buffer = subscriber_buffer
        self.publish_timeout = publish_timeout
        self.wall_clock_ns = wall_clock_ns
        validator = WakuMessageValidator(wall_clock_ns, int(max_timestamp_drift * 1e9))
        self.router = GossipRouter(params, rng=rng or random.SystemRandom(), default_validator=validator)
        self.inbox = Inbox()
        # a subscriber three quarters full slows the relay down (back-pressure) before it drops
        self.service = RelayService(host, self.router, self._on_deliver, local_backlog=self.inbox.backlogged)
        self.tracers: list[Tracer] = []
        self.stats = RelayStats()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.service.run(task_status=task_status)

    # -- topics --------------------------------------------------------------------------
    def pubsub_topic_for(self, content_topic: str) -> str:
        return autoshard_pubsub_topic(content_topic, self.cluster_id, self.num_shards)

    @staticmethod
    def check_pubsub_topic(topic: str) -> str:
        parse_pubsub_topic(topic)
        return topic

    def subscribe(self, pubsub_topic: str) -> None:
        """Join the relay mesh of ``pubsub_topic``."""
        self.service.subscribe(self.check_pubsub_topic(pubsub_topic))

    def unsubscribe(self, pubsub_topic: str) -> None:
        self.service.unsubscribe(self.check_pubsub_topic(pubsub_topic))

    def subscribe_content_topics(self, content_topics: Iterable[str]) -> list[str]:
        """Autosharding: join the shards of these content topics; returns their pubsub topics."""
        topics = sorted({self.pubsub_topic_for(t) for t in content_topics})
        for topic in topics:
            self.subscribe(topic)
        return topics

    @property
    def subscribed_topics(self) -> list[str]:
        return sorted(self.router.subscriptions)

    # -- receiving -----------------------------------------------------------------------
    def messages(
        self, pubsub_topic: str | None = None, content_topics: Iterable[str] | None = None,
        buffer: int | None = None,
    ) -> Subscription:
        """A new bounded subscription to delivered messages. Does not join any mesh by itself."""
        if pubsub_topic is not None:
            self.check_pubsub_topic(pubsub_topic)
        cts = None
        if content_topics is not None:
            cts = frozenset(content_topics)
            for ct in cts:
                parse_content_topic(ct)
        return self.inbox.open(pubsub_topic, cts, buffer or self.subscriber_buffer)

    def _on_deliver(self, event: Deliver) -> None:
        message = event.parsed
        if not isinstance(message, WakuMessage):  # a custom validator that did not parse it
            try:
                message = decode_message(event.data)
            except RemoteProtocolError:
                self.router.drop("undecodable_delivery")
                return
        env = Envelope(event.topic, message, message_hash(event.topic, message),
                       event.received_from, self.wall_clock_ns(), event.data)
        for tracer in self.tracers:
            try:
                tracer(env)
            except Exception:  # a broken tracer must not break delivery
                self.stats.tracer_errors += 1
                log.exception("relay tracer failed")
        delivered, dropped = self.inbox.deliver(env)
        self.stats.delivered_to_subscribers += delivered
        if dropped:
            self.stats.subscriber_drops += dropped
            self.router.drop("subscriber_queue_full", dropped)

    # -- publishing ----------------------------------------------------------------------
    async def publish(self, pubsub_topic: str | None, message: WakuMessage) -> bytes:
        """Publish ``message``; ``pubsub_topic`` None means autosharding by its content topic.

        Returns the message hash. Raises PublishError/TopicError if it cannot go out.
        """
        try:
            parse_content_topic(message.content_topic)
        except TopicError as exc:
            raise PublishError(f"invalid content topic: {exc}") from None
        topic = self.pubsub_topic_for(message.content_topic) if pubsub_topic is None else pubsub_topic
        self.check_pubsub_topic(topic)
        data = encode_message(message)
        if len(data) > MAX_WAKU_MESSAGE_BYTES:
            raise PublishError(f"message is {len(data)} bytes, the limit is {MAX_WAKU_MESSAGE_BYTES}")
        await self.service.publish(topic, data, self.publish_timeout)
        return message_hash(topic, message)

    # -- introspection -------------------------------------------------------------------
    def mesh_peers(self, pubsub_topic: str) -> list[str]:
        return sorted(self.router.mesh.get(pubsub_topic, ()))

    async def wait_for_mesh(self, pubsub_topic: str, peers: int = 1, timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            while len(self.router.mesh.get(pubsub_topic, ())) < peers:
                await trio.sleep(0.02)

    def statistics(self) -> dict[str, Any]:
        r = self.router
        return {
            "peers": len(r.peers),
            "topics": {t: {"mesh": len(r.mesh.get(t, ())), "peers": len(r.topics.get(t, ()))}
                       for t in sorted(r.subscriptions)},
            "rpcs_received": r.stats.rpcs_received,
            "messages_received": r.stats.messages_received,
            "messages_published": r.stats.messages_published,
            "messages_delivered": r.stats.messages_delivered,
            "messages_forwarded": r.stats.messages_forwarded,
            "duplicates": r.stats.duplicates,
            "drops": dict(r.stats.drops),
            "queued_bytes": sum(r.queued_bytes(p) for p in r.peers),
            "subscribers": len(self.inbox),
            "subscriber_queue_depth": self.inbox.max_depth(),
            "seen_cache": len(r.seen),
            "message_cache": len(r.mcache),
        }


def gossip_params(d: int, d_low: int, d_high: int, heartbeat_interval: float, flood_publish: bool) -> GossipParams:
    d_score = min(6, d)
    d_out = min(3, d_low - 1, d // 2)
    return GossipParams(d=d, d_low=d_low, d_high=d_high, d_score=d_score, d_out=max(0, d_out),
                        heartbeat_interval=heartbeat_interval, flood_publish=flood_publish)


