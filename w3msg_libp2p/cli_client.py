"""The REST client behind `w3msg-node publish` and `subscribe`: nwaku's relay API shapes, or, for
a light node (no relay mounted), its lightpush and filter client endpoints.

Synchronous httpx on purpose: one request at a time, nothing to schedule. httpx errors are left
to the CLI edge (cli.py), which turns them into one-line messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import click
import httpx

from .core.errors import RemoteProtocolError
from .core.message import WakuMessage, message_hash
from .core.topics import autoshard_pubsub_topic, parse_content_topic, parse_pubsub_topic


@dataclass(frozen=True, slots=True)
class Target:
    """Where messages go or come from. ``auto``: the content topic names it, through nwaku's
    autosharding endpoints; ``pubsub_topic`` is then what autosharding gives (the hash needs it)."""

    pubsub_topic: str
    content_topic: str | None
    auto: bool


def publish_target(pubsub_topic: str | None, content_topic: str, cluster_id: int, num_shards: int) -> Target:
    parse_content_topic(content_topic)
    if pubsub_topic is not None:
        parse_pubsub_topic(pubsub_topic)
        return Target(pubsub_topic, content_topic, auto=False)
    return Target(autoshard_pubsub_topic(content_topic, cluster_id, num_shards), content_topic, auto=True)


def subscribe_targets(pubsub_topics: Sequence[str], content_topics: Sequence[str], cluster_id: int,
                      num_shards: int) -> list[Target]:
    targets = []
    for topic in dict.fromkeys(pubsub_topics):
        parse_pubsub_topic(topic)
        targets.append(Target(topic, None, auto=False))
    for ct in dict.fromkeys(content_topics):
        parse_content_topic(ct)
        targets.append(Target(autoshard_pubsub_topic(ct, cluster_id, num_shards), ct, auto=True))
    return targets


class NodeClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)
        self._light: bool | None = None

    @property
    def light(self) -> bool:
        """Whether the node runs without relay (asked once, from /health)."""
        if self._light is None:
            health = self._request("GET", "/health").json()
            protocols = health.get("protocolsHealth", []) if isinstance(health, dict) else []
            relay = [p.get("Relay") for p in protocols if isinstance(p, dict) and "Relay" in p]
            self._light = relay == ["NOT_MOUNTED"]
        return self._light

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._http.close()

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response

    def publish(self, target: Target, payload: bytes, *, timestamp: int, ephemeral: bool) -> bytes:
        """Publish; returns the message hash, computed here from exactly what was sent."""
        assert target.content_topic is not None
        message = WakuMessage(payload=payload, content_topic=target.content_topic, timestamp=timestamp)
        body: dict[str, Any] = {"payload": base64.b64encode(payload).decode(),
                                "contentTopic": target.content_topic, "timestamp": timestamp}
        if ephemeral:
            body["ephemeral"] = True
        if self.light:  # lightpush through the node's service peer
            self._request("POST", "/lightpush/v3/message", {"pubsubTopic": target.pubsub_topic, "message": body})
            return message_hash(target.pubsub_topic, message)
        path = ("/relay/v1/auto/messages" if target.auto
                else f"/relay/v1/messages/{_segment(target.pubsub_topic)}")
        self._request("POST", path, body)
        return message_hash(target.pubsub_topic, message)

    def subscribe(self, targets: Sequence[Target]) -> None:
        if self.light:  # a filter subscription at the node's service peer
            for target in targets:
                if target.content_topic is None:
                    raise click.UsageError("a light node subscribes by content topic (filter), not by pubsub topic")
                self._request("POST", "/filter/v2/subscriptions", {
                    "requestId": f"cli-{time.time_ns()}", "contentFilters": [target.content_topic],
                    "pubsubTopic": target.pubsub_topic})
            return
        pubsub = [t.pubsub_topic for t in targets if not t.auto]
        content = [t.content_topic for t in targets if t.auto]
        if pubsub:
            self._request("POST", "/relay/v1/subscriptions", pubsub)
        if content:
            self._request("POST", "/relay/v1/auto/subscriptions", content)

    def messages(self, target: Target) -> list[WakuMessage]:
        """Messages the node cached for ``target`` since the last call (nwaku's GET drains the cache)."""
        if self.light:
            assert target.content_topic is not None
            path = f"/filter/v2/messages/{_segment(target.pubsub_topic)}/{_segment(target.content_topic)}"
        elif target.auto:
            assert target.content_topic is not None
            path = f"/relay/v1/auto/messages/{_segment(target.content_topic)}"
        else:
            path = f"/relay/v1/messages/{_segment(target.pubsub_topic)}"
        response = self._request("GET", path)
        try:
            items = response.json()
        except ValueError:
            raise RemoteProtocolError(f"GET {path}: node answered with something other than JSON") from None
        if not isinstance(items, list):
            raise RemoteProtocolError(f"GET {path}: node answered with JSON that is not a list of messages")
        return [parse_message(item) for item in items]


def _segment(topic: str) -> str:
    """A topic as one URL path segment: its slashes percent-encoded, as nwaku expects."""
    return quote(topic, safe="")


def parse_message(item: Any) -> WakuMessage:
    """A message in nwaku's REST JSON shape (base64 payload and meta, nanosecond timestamp)."""
    if not isinstance(item, dict) or not isinstance(item.get("contentTopic"), str):
        raise RemoteProtocolError(f"node sent a message without a content topic: {item!r:.200}")
    timestamp = item.get("timestamp")
    version = item.get("version")
    if timestamp is not None and not isinstance(timestamp, int):
        raise RemoteProtocolError(f"node sent a message with timestamp {timestamp!r:.40}")
    ephemeral = item.get("ephemeral")
    return WakuMessage(
        payload=_b64(item.get("payload", "")),
        content_topic=item["contentTopic"],
        version=version if isinstance(version, int) else None,
        timestamp=timestamp,
        meta=_b64(item["meta"]) if item.get("meta") else None,
        ephemeral=ephemeral if isinstance(ephemeral, bool) else None,
    )


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise RemoteProtocolError(f"node sent {text!r:.40} where base64 was expected")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise RemoteProtocolError(f"node sent invalid base64 {text:.40}") from None


def message_line(pubsub_topic: str, message: WakuMessage) -> str:
    return json.dumps({
        "hash": "0x" + message_hash(pubsub_topic, message).hex(),
        "pubsub_topic": pubsub_topic,
        "content_topic": message.content_topic,
        "payload": base64.b64encode(message.payload).decode(),
        "timestamp": message.timestamp or 0,
    })


def follow(client: NodeClient, targets: Sequence[Target], *, count: int | None, timeout: float | None,
           poll_interval: float) -> None:
    """Subscribe, then print every message as it arrives until ``count`` messages, ``timeout``,
    SIGINT or SIGTERM (the last two end normally: that is how one stops following)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM then stops like Ctrl-C
    try:
        received = 0
        for line in _lines(client, targets, timeout, poll_interval):
            click.echo(line)
            received += 1
            if count is not None and received >= count:
                return
        if count is not None:
            raise click.ClickException(f"timed out after {timeout:g} s: got {received} of {count} messages")
    except KeyboardInterrupt:
        return


def _lines(client: NodeClient, targets: Sequence[Target], timeout: float | None,
           poll_interval: float) -> Iterator[str]:
    deadline = None if timeout is None else time.monotonic() + timeout
    client.subscribe(targets)
    click.echo(f"subscribed to {', '.join(t.content_topic or t.pubsub_topic for t in targets)}", err=True)
    while True:
        for target in targets:
            for message in client.messages(target):
                yield message_line(target.pubsub_topic, message)
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        time.sleep(poll_interval if deadline is None else min(poll_interval, deadline - now))
