"""GET /metrics (Prometheus text) of real nodes on 127.0.0.1 after real traffic."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import prometheus_client
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from w3msg_libp2p.api.metrics import LatencyHistogram, MetricsServer
from w3msg_libp2p.core.codec import encode_message
from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.core.message import Envelope, WakuMessage
from w3msg_libp2p.node.config import MetricsConfig, NodeConfig, RestConfig
from w3msg_libp2p.node.node import Node, open_node

SHARD0 = "/waku/2/rs/1/0"
CONTENT_TOPIC = "/metricstest/1/chat/proto"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def node_config(tmp_path: Path, name: str) -> NodeConfig:
    return NodeConfig(
        data_dir=tmp_path / name,
        listen=("/ip4/127.0.0.1/tcp/0",),
        rest=RestConfig(port=0),
        metrics=MetricsConfig(port=0),
        shards=(0,),
        cluster_id=1,
        # relay only: store and filter would add relay tracers of their own
        store=None,
        filter=None,
        lightpush=None,
        peer_exchange=None,
    )


async def scrape(client: httpx.AsyncClient, node: Node) -> Samples:
    r = await client.get(f"{node.metrics_url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def wait_delivered(node: Node, count: int) -> None:
    assert node.relay is not None
    with trio.fail_after(10):
        while node.relay.router.stats.messages_delivered < count:
            await trio.sleep(0.02)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as c:
        yield c


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[tuple[Node, Node, Node]]:
    """a - b - c: what a publishes reaches c only through b."""
    async with (
        open_node(node_config(tmp_path, "a")) as a,
        open_node(node_config(tmp_path, "b")) as b,
        open_node(node_config(tmp_path, "c")) as c,
    ):
        await b.connect(a.listen_addrs()[0])
        await c.connect(b.listen_addrs()[0])
        assert a.relay is not None and b.relay is not None and c.relay is not None
        await a.relay.wait_for_mesh(SHARD0)
        await b.relay.wait_for_mesh(SHARD0, peers=2)
        await c.relay.wait_for_mesh(SHARD0)
        yield a, b, c


async def test_relay_counters_after_traffic(
    chain: tuple[Node, Node, Node], client: httpx.AsyncClient
) -> None:
    a, b, c = chain
    n = 4
    for i in range(n):
        body = {"payload": "aGk=", "contentTopic": CONTENT_TOPIC, "timestamp": time.time_ns() + i}
        r = await client.post(f"{a.rest_url}/relay/v1/messages/%2Fwaku%2F2%2Frs%2F1%2F0", json=body)
        assert r.status_code == 200, r.text
    await wait_delivered(c, n)
    sa, sb, sc = [await scrape(client, x) for x in (a, b, c)]

    assert value(sa, "w3msg_relay_messages_published_total") == n
    assert value(sa, "w3msg_relay_messages_delivered_total") == n  # to itself
    assert value(sa, "w3msg_relay_delivery_latency_seconds_count") == 0  # own messages are not observed
    assert (
        value(sa, "w3msg_rest_requests_total", endpoint="POST /relay/v1/messages/{pubsubTopic}", code="200")
        == n
    )
    assert value(sb, "w3msg_relay_messages_received_total") == n
    assert value(sb, "w3msg_relay_messages_forwarded_total") == n  # each one, to c
    assert value(sb, "w3msg_connected_peers") == 2
    assert value(sb, "w3msg_relay_mesh_peers", topic=SHARD0) == 2
    for s in (sb, sc):
        assert value(s, "w3msg_relay_messages_delivered_total") == n
        assert value(s, "w3msg_relay_messages_published_total") == 0
        assert value(s, "w3msg_relay_delivery_latency_seconds_count") == n
        assert value(s, "w3msg_relay_delivery_latency_seconds_bucket", le="+Inf") == n
        assert 0 < value(s, "w3msg_relay_delivery_latency_seconds_sum") < 10 * n
        assert value(s, "w3msg_relay_duplicates_total") == 0
    assert value(sc, "w3msg_relay_messages_forwarded_total") == 0  # c's only mesh peer sent them
    # the REST cache drained c's subscription; the fullest local subscriber queue is empty again
    assert value(sc, "w3msg_relay_subscriber_queue_depth") == 0
    assert value(sc, "w3msg_rest_cached_messages", kind="pubsub") == n
    assert value(sc, "w3msg_relay_queued_bytes") >= 0
    assert value(sa, "w3msg_node_info", version=a.version, peer_id=a.peer_id) == 1


async def test_drops_and_refusals_are_counted_by_reason(tmp_path: Path, client: httpx.AsyncClient) -> None:
    async with open_node(node_config(tmp_path, "a")) as a, open_node(node_config(tmp_path, "b")) as b:
        await b.connect(a.listen_addrs()[0])
        assert a.relay is not None and b.relay is not None
        await a.relay.wait_for_mesh(SHARD0)
        await b.relay.wait_for_mesh(SHARD0)
        # a plays a broken peer: its own validation is off, so it relays a message b must reject
        a.relay.router.default_validator = None
        bad = encode_message(WakuMessage(b"x", "no-content-topic", timestamp=time.time_ns()))
        await a.relay.service.publish(SHARD0, bad, 5.0)
        reason = "rejected:invalid_content_topic"
        with trio.fail_after(10):
            while b.relay.router.stats.drops[reason] < 1:
                await trio.sleep(0.02)
        r = await client.post(
            f"{b.rest_url}/relay/v1/subscriptions",
            content=b"[nope",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400

        sb = await scrape(client, b)
        assert value(sb, "w3msg_relay_drops_total", reason=reason) == 1
        assert value(sb, "w3msg_relay_messages_delivered_total") == 0
        assert (
            value(sb, "w3msg_rest_refusals_total", endpoint="POST /relay/v1/subscriptions", reason="bad_json")
            == 1
        )
        assert (
            value(sb, "w3msg_rest_requests_total", endpoint="POST /relay/v1/subscriptions", code="400") == 1
        )


async def test_each_node_has_its_own_registry(tmp_path: Path, client: httpx.AsyncClient) -> None:
    async with open_node(node_config(tmp_path, "a")) as a, open_node(node_config(tmp_path, "b")) as b:
        sa, sb = await scrape(client, a), await scrape(client, b)
        assert value(sa, "w3msg_node_info", version=a.version, peer_id=a.peer_id) == 1
        assert value(sb, "w3msg_node_info", version=b.version, peer_id=b.peer_id) == 1
        assert ("w3msg_node_info", frozenset({"version": a.version, "peer_id": b.peer_id}.items())) not in sa
        assert "process_cpu_seconds_total" in {name for name, _ in sa}
        assert not any(m.name.startswith("w3msg_") for m in prometheus_client.REGISTRY.collect())
        r = await client.get(f"{a.metrics_url}/other")
        assert r.status_code == 404
        assert a.relay is not None and len(a.relay.tracers) == 1
    assert a.relay.tracers == []  # the latency tracer leaves with the server


async def test_metrics_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    async with open_node(node_config(tmp_path, "a")) as a:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            async with trio.open_nursery() as nursery:
                with pytest.raises(ConfigError, match=rf"^metrics: cannot listen on 127\.0\.0\.1:{port}: "):
                    await nursery.start(MetricsServer(a, MetricsConfig(port=port)).run)
        assert a.relay is not None and len(a.relay.tracers) == 1  # only the running server's


def envelope(timestamp: int | None, received_at: int, sender: str | None = "peer") -> Envelope:
    msg = WakuMessage(b"x", CONTENT_TOPIC, timestamp=timestamp)
    return Envelope(SHARD0, msg, b"h" * 32, sender, received_at)


def test_latency_histogram_observes_only_stamped_messages_from_peers() -> None:
    h = LatencyHistogram((0.1, 1.0))
    h.trace(envelope(1_000_000_000, 1_050_000_000))  # 50 ms
    h.trace(envelope(1_000_000_000, 1_100_000_000))  # 100 ms: le is inclusive
    h.trace(envelope(1_000_000_000, 3_000_000_000))  # 2 s
    h.trace(envelope(2_000_000_000, 1_000_000_000))  # from our future: skew, observed as 0
    h.trace(envelope(None, 5))  # unstamped
    h.trace(envelope(1, 5, sender=None))  # ours
    assert h.cumulative_buckets() == [("0.1", 3.0), ("1.0", 3.0), ("+Inf", 4.0)]
    assert h.count == 4 and h.clock_skewed == 1
    assert h.total == pytest.approx(2.15)


async def test_service_protocol_statistics_and_refusals_are_exported(tmp_path: Path) -> None:
    from w3msg_libp2p.net.reqresp import request
    from w3msg_libp2p.node.service_config import StoreConfig
    from w3msg_libp2p.protocols.store.rpc import STORE_PROTOCOL_ID

    cfg_a = node_config(tmp_path, "a").with_overrides(store=StoreConfig())
    async with open_node(cfg_a) as a, open_node(node_config(tmp_path, "b")) as b, \
            httpx.AsyncClient(timeout=10) as client:
        await b.connect(a.listen_addrs()[0])
        await request(b.host, a.peer_id, (STORE_PROTOCOL_ID,), b"\xff\xff not protobuf", 1 << 20)
        samples = await scrape(client, a)
    assert samples[("w3msg_service_refusals_total",
                    frozenset({("service", "store"), ("where", "server"), ("reason", "status_400")}))] == 1
    assert samples[("w3msg_service_statistic", frozenset({("service", "store"), ("name", "requests")}))] == 1
    assert ("w3msg_service_statistic", frozenset({("service", "metadata"), ("name", "cluster_id")})) in samples
