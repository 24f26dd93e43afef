"""The filter client retries a request its service peer answered 429: go-waku's filter service
allows one request a second per peer, so a ping right after a subscribe is refused once."""

from __future__ import annotations

from pathlib import Path

import trio

from w3msg_libp2p.node.config import NodeConfig
from w3msg_libp2p.node.node import open_node
from w3msg_libp2p.node.service_config import FilterConfig, RateLimit
from w3msg_libp2p.protocols.filter.client import FilterClient

PS = "/waku/2/rs/1/0"
CT = "/filtertest/1/chat/proto"


def _config(tmp_path: Path, name: str, **overrides: object) -> NodeConfig:
    base = NodeConfig(data_dir=tmp_path / name, listen=("/ip4/127.0.0.1/tcp/0",), rest=None, shards=(0,),
                      store=None, filter=None, lightpush=None, peer_exchange=None)
    return base.with_overrides(**overrides)


async def test_a_request_refused_with_429_is_retried(tmp_path: Path) -> None:
    service_cfg = _config(tmp_path, "service", filter=FilterConfig(rate_limit=RateLimit(1, 1.0)))
    async with open_node(service_cfg) as service, open_node(_config(tmp_path, "light", relay=None)) as light, \
            trio.open_nursery() as nursery:
        client = FilterClient(light.host, cluster_id=1, num_shards=8, ping_interval=3600)
        await nursery.start(client.run)
        with trio.fail_after(15):
            await client.subscribe(service.listen_addrs()[0], [CT], PS)
            await client.ping(service.peer_id)  # within the second: 429 first, then served
            await client.unsubscribe(service.peer_id, [CT], PS)
        assert client.stats["retried_429"] >= 2
        assert service.statistics()["filter"]["refusals"].get("rate_limited", 0) >= 2
        nursery.cancel_scope.cancel()
