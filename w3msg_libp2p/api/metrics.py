"""Prometheus ``GET /metrics`` for one node.

Each node gets its own CollectorRegistry (several nodes may share a process). Nothing in the
relay hot path calls prometheus_client: a custom collector reads the node's counters when
scraped, and the latency tracer only bumps a plain bucket array.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import trio
from prometheus_client import CollectorRegistry, ProcessCollector, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core.message import Envelope
from ..node.config import MetricsConfig
from .http import bind_listener, serve_asgi
from .service_metrics import service_metrics

if TYPE_CHECKING:
    from ..node.node import Node

log = logging.getLogger(__name__)

# Seconds from a message's own timestamp to its delivery here: gossip over a few hops is
# milliseconds to a second; the long tail shows clock skew and congested peers.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


class LatencyHistogram:
    """Publish-to-delivery latency, kept as plain counts (the tracer runs on every delivery)."""

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0
        self.clock_skewed = 0  # deliveries stamped in our future: observed as 0

    def observe(self, seconds: float) -> None:
        if seconds < 0:
            self.clock_skewed += 1
            seconds = 0.0
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1  # le is inclusive
        self.total += seconds

    def trace(self, env: Envelope) -> None:
        """A relay tracer: messages we published ourselves and unstamped ones are not observed."""
        if env.received_from is None or not env.message.timestamp:
            return
        self.observe((env.received_at_ns - env.message.timestamp) / 1e9)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


class NodeCollector(Collector):
    """Reads ``node.statistics()`` (and the REST server's) at scrape time."""

    def __init__(self, node: Node, latency: LatencyHistogram) -> None:
        self.node = node
        self.latency = latency

    def collect(self) -> Iterator[Metric]:
        stats = self.node.statistics()
        info = GaugeMetricFamily("w3msg_node_info", "This node (value is always 1)",
                                 labels=["version", "peer_id"])
        info.add_metric([self.node.version, self.node.peer_id], 1)
        yield info
        yield GaugeMetricFamily("w3msg_connected_peers", "Peers with an open connection",
                                value=stats["connected_peers"])
        if "relay" in stats:
            yield from relay_metrics(stats["relay"], self.node)
            yield from self._latency_metrics()
        if "rest" in stats:
            yield from rest_metrics(stats["rest"])
        yield from service_metrics(stats)

    def _latency_metrics(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(
            "w3msg_relay_delivery_latency_seconds",
            "Message timestamp to delivery here, for messages received from peers",
            buckets=self.latency.cumulative_buckets(), sum_value=self.latency.total)
        yield CounterMetricFamily(
            "w3msg_relay_delivery_clock_skewed", "Deliveries timestamped in our future (observed as 0 s)",
            value=self.latency.clock_skewed)


def relay_metrics(relay: dict[str, Any], node: Node) -> Iterator[Metric]:
    counters = [
        ("rpcs_received", "Relay RPCs received"),
        ("messages_received", "Relay messages received from peers, duplicates included"),
        ("messages_published", "Messages published by this node"),
        ("messages_forwarded", "Messages relayed to peers (one per message per peer)"),
        ("messages_delivered", "Messages delivered to this node's subscribers"),
        ("duplicates", "Relay messages received again"),
    ]
    for key, doc in counters:
        yield CounterMetricFamily(f"w3msg_relay_{key}", doc, value=relay[key])
    drops = CounterMetricFamily("w3msg_relay_drops", "Relay messages and control entries dropped",
                                labels=["reason"])
    for reason, n in sorted(relay["drops"].items()):
        drops.add_metric([reason], n)
    yield drops
    gauges = [
        ("peers", "Peers speaking relay"),
        ("queued_bytes", "Bytes queued to be sent to relay peers"),
        ("subscribers", "Local relay subscriptions"),
        ("subscriber_queue_depth", "Messages waiting in the fullest local subscription"),
        ("seen_cache", "Message ids in the seen cache"),
        ("message_cache", "Messages in the gossip message cache"),
    ]
    for key, doc in gauges:
        yield GaugeMetricFamily(f"w3msg_relay_{key}", doc, value=relay[key])
    mesh = GaugeMetricFamily("w3msg_relay_mesh_peers", "Mesh peers per subscribed topic", labels=["topic"])
    topic_peers = GaugeMetricFamily("w3msg_relay_topic_peers", "Peers subscribed per topic", labels=["topic"])
    for topic, t in relay["topics"].items():
        mesh.add_metric([topic], t["mesh"])
        topic_peers.add_metric([topic], t["peers"])
    yield mesh
    yield topic_peers
    if node.relay is not None:
        extra = node.relay.stats
        yield CounterMetricFamily("w3msg_relay_subscriber_drops", "Deliveries dropped: subscriber full",
                                  value=extra.subscriber_drops)
        yield CounterMetricFamily("w3msg_relay_tracer_errors", "Relay tracers that raised",
                                  value=extra.tracer_errors)


def rest_metrics(rest: dict[str, Any]) -> Iterator[Metric]:
    requests = CounterMetricFamily("w3msg_rest_requests", "REST requests answered",
                                   labels=["endpoint", "code"])
    for endpoint, codes in sorted(rest["requests"].items()):
        for code, n in sorted(codes.items()):
            requests.add_metric([endpoint, str(code)], n)
    yield requests
    refusals = CounterMetricFamily("w3msg_rest_refusals", "REST requests refused (status >= 400)",
                                   labels=["endpoint", "reason"])
    for endpoint, reasons in sorted(rest["refusals"].items()):
        for reason, n in sorted(reasons.items()):
            refusals.add_metric([endpoint, reason], n)
    yield refusals
    cache = rest["cache"]
    evictions = CounterMetricFamily("w3msg_rest_cache_evictions",
                                    "Messages evicted unread from the REST message cache", labels=["kind"])
    cached = GaugeMetricFamily("w3msg_rest_cached_messages", "Messages waiting in the REST message cache",
                               labels=["kind"])
    for kind in ("pubsub", "content"):
        evictions.add_metric([kind], cache["evictions"][kind])
        cached.add_metric([kind], cache["cached"][kind])
    yield evictions
    yield cached


def metrics_app(registry: CollectorRegistry) -> ASGIApp:
    """``GET /metrics`` from ``registry``; 404 elsewhere; ASGI lifespan acknowledged."""
    prometheus = make_asgi_app(registry)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                await send({"type": f"{event['type']}.complete"})
                if event["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            await prometheus(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"Not found: metrics are at /metrics"})

    return app


class MetricsServer:
    def __init__(self, node: Node, config: MetricsConfig) -> None:
        self.node = node
        self.config = config
        self.latency = LatencyHistogram()
        self.registry = CollectorRegistry()
        self.registry.register(NodeCollector(node, self.latency))
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory...

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; ``task_status.started("http://host:port")`` once listening."""
        sock = bind_listener(self.config.address, self.config.port, "metrics")
        relay = self.node.relay
        if relay is not None:
            relay.tracers.append(self.latency.trace)
        try:
            async with trio.open_nursery() as nursery:
                url = await nursery.start(serve_asgi, metrics_app(self.registry), sock)
                log.info("metrics on %s/metrics", url)
                task_status.started(url)
        finally:
            sock.close()
            if relay is not None and self.latency.trace in relay.tracers:
                relay.tracers.remove(self.latency.trace)
