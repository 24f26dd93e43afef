from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import Node, open_node

TOPIC = "/waku/2/rs/1/0"
_counter = itertools.count()


def local_config(tmp_path: Path, name: str | None = None, **overrides: object) -> NodeConfig:
    base = NodeConfig(
        data_dir=tmp_path / (name or f"node{next(_counter)}"),
        listen=("/ip4/127.0.0.1/tcp/0",),
        rest=None,
        shards=(0,),
        # relay only unless a test asks for a service
        store=None,
        filter=None,
        lightpush=None,
        peer_exchange=None,
    )
    return base.with_overrides(**overrides)


@asynccontextmanager
async def running_nodes(tmp_path: Path, count: int, **overrides: object) -> AsyncIterator[list[Node]]:
    async with AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(open_node(local_config(tmp_path, **overrides)))
                 for _ in range(count)]
        yield nodes


Connector = Callable[[list[Node]], None]
