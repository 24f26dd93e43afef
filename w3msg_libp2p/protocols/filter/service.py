"""Filter v2 service node: the trio/libp2p adapter around ``server.FilterServer``.

Subscribe requests come through ``net.reqresp`` (size limits, per-peer rate limits, timeouts).
Messages come from a relay tracer, which must never block the relay: each one is encoded once
and put on a bounded queue per subscribed peer, drained by one task per peer over one
push stream, long-lived or one per push as the subscriber's client expects (push.PushSender).
A full queue drops the push (counted).
Streams open on the connection we already have with the peer (py-libp2p reuses it), so clients
that dialed us and cannot be dialed back still get their pushes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ...core.errors import ConfigError, PeerUnreachable
from ...core.message import Envelope
from ...net.reqresp import RequestResponseProtocol, RequestResponseServer
from ...node.service_config import FilterConfig
from .codec import MAX_REQUEST_BYTES, decode_request, encode_push, encode_response
from .push import PushSender
from .rpc import FILTER_PUSH, FILTER_SUBSCRIBE, MessagePush, SubscribeResponse, describe
from .server import FilterServer
from .subscriptions import SubscriptionTable

if TYPE_CHECKING:
    from ...node.node import Node

log = logging.getLogger(__name__)

PUSH_QUEUE_SIZE = 256  # pushes waiting per subscriber before new ones are dropped
PUSH_TIMEOUT = 5.0  # one push (stream open + write) to one subscriber
MAX_SWEEP_INTERVAL = 30.0  # how often expired subscriptions and idle queues are cleared


def refuse(status: int, description: str) -> bytes:
    """The answer to a request refused before it was decoded (its request id is unknown:
    nwaku answers rate-limited requests with "N/A" too)."""
    return encode_response(SubscribeResponse("N/A", status, describe(status, description)))


class FilterService:
    def __init__(self, node: Node, config: FilterConfig, clock: Callable[[], float] = trio.current_time) -> None:
        self.node = node
        self.config = config
        self.clock = clock
        table = SubscriptionTable(config.max_peers, config.max_criteria_per_peer, config.subscription_timeout)
        self.server = FilterServer(table, config.max_content_topics_per_request)
        self.requests = RequestResponseServer(node.host, RequestResponseProtocol(
            (FILTER_SUBSCRIBE,), self.handle, refuse, MAX_REQUEST_BYTES, rate_limit=config.rate_limit))
        self.pushes: Counter[str] = Counter()  # sent, failed, dropped_queue_full
        self._queues: dict[str, trio.MemorySendChannel[bytes]] = {}
        self._senders: dict[str, PushSender] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        relay = self.node.relay
        if relay is None:
            raise ConfigError("filter: serving filter needs relay (it pushes the messages the relay delivers)")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.requests.mount()
            relay.tracers.append(self._on_message)
            try:
                nursery.start_soon(self._sweep_forever)
                task_status.started()
                await trio.sleep_forever()
            finally:
                relay.tracers.remove(self._on_message)
                self._nursery = None
                nursery.cancel_scope.cancel()

    async def handle(self, peer: str, request: bytes) -> bytes:
        """One subscribe request (stream-independent: the mixnet calls this too). Undecodable
        requests raise RemoteProtocolError(400), which the adapter answers and counts."""
        return encode_response(self.server.handle(peer, decode_request(request), self.clock()))

    # -- pushing -------------------------------------------------------------------------------
    def _on_message(self, env: Envelope) -> None:
        """Relay tracer: called synchronously for every delivered message."""
        peers = self.server.subscribers(env.pubsub_topic, env.message.content_topic, self.clock())
        if not peers:
            return
        data = encode_push(MessagePush(env.message, env.pubsub_topic))
        for peer in peers:
            self._enqueue(peer, data)

    def _enqueue(self, peer: str, data: bytes) -> None:
        send = self._queues.get(peer)
        if send is None:
            if self._nursery is None:
                return
            send, recv = trio.open_memory_channel[bytes](PUSH_QUEUE_SIZE)
            self._queues[peer] = send
            self._nursery.start_soon(self._drain, peer, recv)
        try:
            send.send_nowait(data)
        except trio.WouldBlock:
            self.pushes["dropped_queue_full"] += 1
            log.debug("filter: push queue of %s is full; push dropped", peer)

    async def _drain(self, peer: str, recv: trio.MemoryReceiveChannel[bytes]) -> None:
        async with trio.open_nursery() as nursery:
            sender = self._senders[peer] = PushSender(self.node.host, peer, (FILTER_PUSH,), nursery,
                                                      timeout=PUSH_TIMEOUT)
            try:
                async with recv:
                    async for data in recv:
                        try:
                            await sender.send(data)
                            self.pushes["sent"] += 1
                        except PeerUnreachable as exc:
                            self.pushes["failed"] += 1
                            log.debug("filter: push to %s failed: %s", peer, exc)
            finally:
                if self._senders.get(peer) is sender:
                    del self._senders[peer]
                with trio.CancelScope(shield=True):
                    await sender.aclose()

    async def _sweep_forever(self) -> None:
        interval = min(self.config.subscription_timeout / 2, MAX_SWEEP_INTERVAL)
        while True:
            await trio.sleep(interval)
            self.sweep()

    def sweep(self) -> None:
        """Forget expired subscribers, and close the push queues of peers no longer subscribed
        (their drain tasks finish what is queued, then end)."""
        for peer in self.server.expire(self.clock()):
            log.debug("filter: subscription of %s expired (no ping for %.0f s)", peer,
                      self.config.subscription_timeout)
        for peer in [p for p in self._queues if p not in self.server.table]:
            self._queues.pop(peer).close()

    # -- introspection -------------------------------------------------------------------------
    def statistics(self) -> dict[str, Any]:
        table = self.server.table
        stats = self.server.stats
        return {
            "subscribers": len(table),
            "criteria": table.criteria_count,
            "expired": table.expired,
            "requests": dict(stats.requests),
            "responses": {int(code): n for code, n in stats.responses.items()},
            # refused by the stream adapter (malformed, oversized, rate limited, timed out) and
            # by the rules (limits, not subscribed, bad criteria)
            "refusals": dict(self.requests.stats.refusals + stats.refusals),
            "pushes": {"sent": self.pushes["sent"], "failed": self.pushes["failed"],
                       "dropped": self.pushes["dropped_queue_full"]},
            "push_queues": len(self._queues),
            # subscribers whose client reads one push per stream (go-waku) / many (nwaku, js-waku)
            "push_streams": {"per_push": sum(1 for s in self._senders.values() if s.stream_per_push),
                             "long_lived": sum(1 for s in self._senders.values() if s.stream_per_push is False)},
            "push_queue_depth": max((q.statistics().current_buffer_used for q in self._queues.values()),
                                    default=0),
        }

