"""Real nodes on 127.0.0.1 for filter tests: a publisher and a relay + filter service node in one
relay mesh, and light nodes (relay off) with filter clients."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import FilterConfig
from w3msg_libp2p.protocols.filter.client import FilterClient, FilterSubscription

from ..conftest import local_config

PS = "/waku/2/rs/1/0"
# "filtertest" autoshards to shard 0 of 8 in cluster 1, the shard these nodes relay
CT = "/filtertest/1/chat/proto"
CT2 = "/filtertest/1/other/proto"
CT3 = "/filtertest/1/third/proto"


def msg(content_topic: str = CT, payload: bytes = b"hello") -> WakuMessage:
    return WakuMessage(payload, content_topic, timestamp=time.time_ns())


@dataclass
class Net:
    publisher: Node
    service: Node
    tmp_path: Path
    nursery: trio.Nursery
    stack: AsyncExitStack

    @property
    def service_addr(self) -> str:
        return self.service.listen_addrs()[0]

    async def publish(self, message: WakuMessage) -> bytes:
        assert self.publisher.relay is not None
        return await self.publisher.relay.publish(PS, message)

    async def light(self, name: str, **client_options: Any) -> tuple[Node, FilterClient]:
        """A node with relay off, and a running filter client on its host."""
        node = await self.stack.enter_async_context(open_node(local_config(self.tmp_path, name, relay=None)))
        client = FilterClient(node.host, cluster_id=1, num_shards=8, **client_options)
        await self.nursery.start(client.run)
        return node, client


@asynccontextmanager
async def filter_net(tmp_path: Path, config: FilterConfig | None = None) -> AsyncIterator[Net]:
    async with AsyncExitStack() as stack:
        service = await stack.enter_async_context(
            open_node(local_config(tmp_path, "service", filter=config or FilterConfig())))
        publisher = await stack.enter_async_context(open_node(local_config(tmp_path, "publisher")))
        await publisher.connect(service.listen_addrs()[0])
        assert publisher.relay is not None
        await publisher.relay.wait_for_mesh(PS)
        async with trio.open_nursery() as nursery:
            # light nodes (entered later on the stack) close before the nursery is cancelled
            try:
                async with AsyncExitStack() as lights:
                    yield Net(publisher, service, tmp_path, nursery, lights)
            finally:
                nursery.cancel_scope.cancel()


async def receive(sub: FilterSubscription, timeout: float = 10.0) -> Envelope:
    with trio.fail_after(timeout):
        return await sub.receive()


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
