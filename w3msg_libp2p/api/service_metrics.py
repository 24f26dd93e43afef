"""Prometheus families for the service protocols (store, filter, lightpush, peer exchange,
metadata), read from each service's ``statistics()`` at scrape time.

Each service reports a nested dict of its own shape; numbers become samples of one gauge family
labelled by service and dotted path, and every ``refusals`` table becomes samples of one counter
family labelled by service, where it was counted and reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

SERVICES = ("store", "filter", "lightpush", "peer_exchange", "metadata")


def service_metrics(stats: dict[str, Any]) -> Iterator[Metric]:
    values = GaugeMetricFamily("w3msg_service_statistic",
                               "Counters and gauges of the service protocols, by dotted statistics path",
                               labels=["service", "name"])
    refusals = CounterMetricFamily("w3msg_service_refusals", "Service requests refused, by reason",
                                   labels=["service", "where", "reason"])
    for service in SERVICES:
        section = stats.get(service)
        if not isinstance(section, dict):
            continue
        for path, value in _numbers(section, ()):
            if len(path) >= 2 and path[-2] == "refusals":
                refusals.add_metric([service, ".".join(path[:-2]) or "server", path[-1]], value)
            else:
                values.add_metric([service, ".".join(path)], value)
    yield values
    yield refusals


def _numbers(section: dict[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], float]]:
    for key, value in section.items():
        path = (*prefix, str(key))
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield path, float(value)
        elif isinstance(value, dict):
            yield from _numbers(value, path)
