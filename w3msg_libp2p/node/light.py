"""Light mode: what a node without relay does through its service peers. It publishes with
lightpush, receives with filter and reads history from store, trying service peers in the order
they were configured."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from ..core.errors import PeerUnreachable
from ..core.message import WakuMessage, message_hash
from ..core.topics import autoshard_pubsub_topic
from ..protocols.filter.client import FilterClient, FilterSubscription
from ..protocols.lightpush.client import LightpushClient
from ..protocols.lightpush.rpc import NoPeersToRelay
from ..protocols.store.client import StoreClient
from ..protocols.store.rpc import StoreQuery, StoreResponse

if TYPE_CHECKING:
    from .node import Node

T = TypeVar("T")


class LightClient:
    def __init__(self, node: Node) -> None:
        config = node.config
        self.node = node
        self.service_addrs = {addr.rsplit("/p2p/", 1)[1]: addr for addr in config.service_peers}
        self.service_peers = list(self.service_addrs)
        self.filter = FilterClient(node.host, cluster_id=config.cluster_id, num_shards=config.num_shards_in_cluster)
        self.lightpush = LightpushClient(node.host, cluster_id=config.cluster_id,
                                         num_shards=config.num_shards_in_cluster)
        self.store = StoreClient(node.host)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Keeps filter subscriptions alive (pings, re-subscribes after a service peer returns)."""
        await self.filter.run(task_status=task_status)

    async def _first_reachable(self, call: Callable[[str], Awaitable[T]],
                               retry_on: tuple[type[Exception], ...] = (PeerUnreachable,)) -> T:
        errors: list[str] = []
        for peer in self.service_peers:
            try:
                await self._ensure_connected(peer)
                return await call(peer)
            except retry_on as exc:
                errors.append(f"{peer}: {exc}")
        raise PeerUnreachable("no service peer could serve the request: " + "; ".join(errors or ["none configured"]))

    async def _ensure_connected(self, peer: str) -> None:
        """Dial a service peer we are not connected to (the node also redials them in the
        background, but a request made right after start must not wait for that)."""
        if peer not in self.node.connected_peer_ids():
            await self.node.connect(self.service_addrs[peer])

    async def publish(self, message: WakuMessage, pubsub_topic: str | None = None) -> bytes:
        """Lightpush ``message`` (autosharded when ``pubsub_topic`` is None); returns its hash.
        A service peer without relay peers (503) is skipped for the next one."""
        config = self.node.config
        if not message.timestamp:  # stamped here, so the hash we return is the one relayed
            message = dataclasses.replace(message, timestamp=time.time_ns())
        topic = pubsub_topic or autoshard_pubsub_topic(message.content_topic, config.cluster_id,
                                                       config.num_shards_in_cluster)
        await self._first_reachable(lambda peer: self.lightpush.push(peer, message, topic),
                                    retry_on=(PeerUnreachable, NoPeersToRelay))
        return message_hash(topic, message)

    async def subscribe(self, content_topics: Iterable[str], pubsub_topic: str | None = None) -> FilterSubscription:
        """Filter-subscribe at the first reachable service peer; returns a bounded subscription of
        the pushed messages (close it when done; the filter subscription stays until unsubscribe)."""
        topics = list(content_topics)
        subscription = self.filter.messages(pubsub_topic, topics)
        try:
            await self._first_reachable(lambda peer: self.filter.subscribe(peer, topics, pubsub_topic))
        except BaseException:
            subscription.close()
            raise
        return subscription

    async def unsubscribe(self, content_topics: Iterable[str], pubsub_topic: str | None = None) -> None:
        topics = list(content_topics)
        for peer in self.filter.service_peers:
            await self.filter.unsubscribe(peer, topics, pubsub_topic)

    async def query(self, query: StoreQuery) -> StoreResponse:
        """One page of history from the first reachable service peer."""
        return await self._first_reachable(lambda peer: self.store.query(peer, query))

    async def history(self, query: StoreQuery) -> AsyncIterator[StoreResponse]:
        """Every page of history, all from one service peer (the next one is tried only if the
        first fails before its first page: pages of two stores do not splice)."""
        for peer in self.service_peers:
            started = False
            try:
                await self._ensure_connected(peer)
                async for page in self.store.pages(peer, query):
                    started = True
                    yield page
                return
            except PeerUnreachable:
                if started:
                    raise
        raise PeerUnreachable("no service peer could serve the store query")
