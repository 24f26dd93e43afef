"""Trio adapter: serves lightpush v3 and v2 on the host, publishing through the node's relay."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import trio

from ...core.errors import ConfigError
from ...core.message import WakuMessage
from ...net.reqresp import RequestResponseProtocol, RequestResponseServer
from ...node.service_config import LightpushConfig
from ..relay.rpc import PubMessage, ValidationResult
from ..relay.waku import WakuRelay
from . import codec
from .rpc import LIGHTPUSH_V2, LIGHTPUSH_V3
from .server import LightpushServer, PushOutcome, refuse_v2, refuse_v3

if TYPE_CHECKING:
    from ...node.node import Node

ALREADY_SEEN = "Dropping already-seen message"  # nwaku's wording


class RelayBackedView:
    """``server.RelayView`` on a running WakuRelay."""

    def __init__(self, relay: WakuRelay) -> None:
        self.relay = relay

    @property
    def cluster_id(self) -> int:
        return self.relay.cluster_id

    @property
    def num_shards(self) -> int:
        return self.relay.num_shards

    def relays(self, pubsub_topic: str) -> bool:
        return pubsub_topic in self.relay.router.subscriptions

    def refusal(self, pubsub_topic: str, data: bytes) -> str | None:
        router = self.relay.router
        if router.message_id(PubMessage(pubsub_topic, data)) in router.seen:
            return ALREADY_SEEN
        validator = router.validators.get(pubsub_topic, router.default_validator)
        if validator is None:
            return None
        verdict = validator(pubsub_topic, data)
        if verdict.result is ValidationResult.ACCEPT:
            return None
        return f"message refused by relay validation: {verdict.reason}"

    def peer_count(self, pubsub_topic: str) -> int:
        return len(self.relay.router.publish_targets(pubsub_topic))


class LightpushService:
    def __init__(self, node: Node, config: LightpushConfig) -> None:
        if node.relay is None:
            raise ConfigError("lightpush: serving lightpush needs relay, and this node runs without relay")
        self.node = node
        self.config = config
        self.server = LightpushServer(RelayBackedView(node.relay), node.relay.publish)
        self.v3 = RequestResponseServer(node.host, RequestResponseProtocol(
            (LIGHTPUSH_V3,), self.server.handle_v3, refuse_v3, codec.MAX_REQUEST_BYTES, config.rate_limit))
        self.v2 = RequestResponseServer(node.host, RequestResponseProtocol(
            (LIGHTPUSH_V2,), self.server.handle_v2, refuse_v2, codec.MAX_REQUEST_BYTES, config.rate_limit))

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.v3.mount()
        self.v2.mount()
        task_status.started()
        await trio.sleep_forever()

    async def push(self, pubsub_topic: str | None, message: WakuMessage) -> PushOutcome:
        """A push of our own (REST on a service node), judged by the same rules, not rate limited."""
        return await self.server.push(self.node.peer_id, pubsub_topic, message)

    def statistics(self) -> dict[str, Any]:
        refusals: Counter[str] = Counter()
        for stats in (self.v3.stats, self.v2.stats):
            refusals.update(stats.refusals)
        refusals.update({k: n for k, n in self.server.outcomes.items() if k != "success"})
        return {
            "requests": self.v3.stats.requests + self.v2.stats.requests,
            "published": self.server.outcomes["success"],
            "refusals": dict(refusals),
            "v3": self.v3.stats.as_dict(),
            "v2": self.v2.stats.as_dict(),
        }
