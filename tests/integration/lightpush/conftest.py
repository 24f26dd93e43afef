"""Lightpush test network: A relays and serves lightpush, C relays beside it, B has no relay."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from libp2p.abc import IHost
from multiaddr import Multiaddr

from tests.integration.conftest import local_config
from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.core.ratelimit import RateLimit
from w3msg_libp2p.net.host import build_host
from w3msg_libp2p.node.keys import generate_key_pair
from w3msg_libp2p.node.node import Node, open_node
from w3msg_libp2p.node.service_config import LightpushConfig
from w3msg_libp2p.protocols.relay.waku import Subscription

SHARD0 = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/lptest/1/chat/proto"
GENEROUS = RateLimit(1000, 1.0)


def message(payload: bytes = b"hello", content_topic: str = CONTENT_TOPIC, **fields: object) -> WakuMessage:
    return WakuMessage(payload, content_topic, timestamp=time.time_ns(), **fields)  # type: ignore[arg-type]


async def receive(sub: Subscription, timeout: float = 10.0) -> Envelope:
    with trio.fail_after(timeout):
        return await sub.receive()


@dataclass
class Net:
    a: Node  # relay + lightpush server
    b: Node  # no relay: the light client
    c: Node  # relay peer of A


@asynccontextmanager
async def lightpush_net(tmp_path: Path, rate_limit: RateLimit | None = GENEROUS,
                        connect_c: bool = True) -> AsyncIterator[Net]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            open_node(local_config(tmp_path, "a", lightpush=LightpushConfig(rate_limit=rate_limit))))
        c = await stack.enter_async_context(open_node(local_config(tmp_path, "c")))
        b = await stack.enter_async_context(open_node(local_config(tmp_path, "b", relay=None)))
        if connect_c:
            await c.connect(a.listen_addrs()[0])
            assert a.relay is not None and c.relay is not None
            await a.relay.wait_for_mesh(SHARD0)
            await c.relay.wait_for_mesh(SHARD0)
        await b.connect(a.listen_addrs()[0])
        yield Net(a, b, c)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    async with lightpush_net(tmp_path) as n:
        yield n


@asynccontextmanager
async def bare_host() -> AsyncIterator[IHost]:
    """A plain py-libp2p host: no Waku protocols unless a test mounts some."""
    host = build_host(generate_key_pair("ed25519"))
    async with host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await host.close()
