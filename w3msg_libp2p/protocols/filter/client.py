"""Filter v2 client: subscribe with service peers, receive their pushes, keep subscriptions alive.

Messages pushed to us are delivered like ``relay.messages()`` delivers: as Envelopes, to bounded
subscriptions (a full one drops and counts) and to synchronous listeners. Only pushes from a
peer we subscribed with, matching what we asked it for, are delivered (12/WAKU2-FILTER says a
client SHOULD check), each message once even when several service peers push it.

``run()`` keeps every subscription alive: it pings each service peer every ``ping_interval``
and, when the peer answers 404 (it restarted, or expired us) or comes back after it could not be
reached (failed ping or disconnect), subscribes again to everything we had with it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import IHost, INetConn
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from multiaddr import Multiaddr

from ...core.errors import ConfigError, PeerUnreachable, RemoteProtocolError, TopicError
from ...core.message import Envelope, message_hash
from ...core.topics import autoshard_pubsub_topic, parse_content_topic, parse_pubsub_topic
from ...net.addresses import parse_multiaddr
from ...net.notifee import ConnectionEvents
from ...net.reqresp import OneWayServer, request
from ..inbox import Inbox, Subscription
from .codec import MAX_PUSH_BYTES, MAX_RESPONSE_BYTES, decode_push, decode_response, encode_request
from .rpc import FILTER_PUSH, FILTER_SUBSCRIBE, Status, SubscribeRequest, SubscribeResponse, SubscribeType
from .subscriptions import Criterion

log = logging.getLogger(__name__)

PING_INTERVAL = 60.0  # js-waku's keep-alive; nwaku expires a silent subscriber after 5 minutes
RETRY_INTERVAL = (0.5, 30.0)  # first and longest wait before retrying an unreachable service peer
SEEN_CAPACITY = 4096  # message hashes remembered to deliver a message pushed twice only once
CONNECT_TIMEOUT = 10.0
# go-waku's filter service answers 429 to a second request within a second (1/s per peer, burst 1):
# a subscribe on two shards, or a ping right after a subscribe, would fail. 429s are retried.
RATE_LIMITED_RETRIES = (1.1, 2.5)  # waits before the retries


class FilterError(RemoteProtocolError):
    """A service peer refused a request (``status_code``: its status) or answered nonsense
    (300, BAD_RESPONSE). ``description`` is what it said, as nwaku's REST API reports it."""

    def __init__(self, status_code: int, description: str, request_id: str = "") -> None:
        super().__init__(description, status_code)
        self.description = description
        self.request_id = request_id


FilterSubscription = Subscription  # pushed messages, bounded (see protocols/inbox.py)


@dataclass(slots=True)
class _ServicePeer:
    peer_id: str
    addrs: list[Multiaddr] = field(default_factory=list)  # to redial it; else the peerstore's
    criteria: set[Criterion] = field(default_factory=set)
    next_check: float = 0.0
    failures: int = 0  # consecutive failed keep-alives: > 0 means we must subscribe again


class FilterClient:
    def __init__(
        self,
        host: IHost,
        *,
        cluster_id: int = 1,
        num_shards: int = 8,
        ping_interval: float = PING_INTERVAL,
        timeout: float = 10.0,
        buffer: int = 1024,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if ping_interval <= 0 or timeout <= 0 or buffer <= 0:
            raise ConfigError("filter client: ping-interval, timeout and buffer must be positive")
        self.host = host
        self.cluster_id = cluster_id
        self.num_shards = num_shards
        self.ping_interval = ping_interval
        self.timeout = timeout
        self.buffer = buffer
        self.wall_clock_ns = wall_clock_ns
        self.listeners: list[Callable[[Envelope], None]] = []  # called synchronously per message
        self.stats: Counter[str] = Counter()
        self.pushes = OneWayServer(host, (FILTER_PUSH,), self._on_push, MAX_PUSH_BYTES)
        self._mounted = False
        self._peers: dict[str, _ServicePeer] = {}
        self.inbox = Inbox()
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._wake = trio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    def mount(self) -> None:
        """Accept pushes (idempotent; subscribing mounts too)."""
        if not self._mounted:
            self.pushes.mount()
            self._mounted = True

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Keep subscriptions alive until cancelled."""
        self.mount()
        notifee = ConnectionEvents(lambda conn: self._on_connected(str(conn.muxed_conn.peer_id)),
                                   self._on_connection_closed)
        self.host.get_network().register_notifee(notifee)
        try:
            task_status.started()
            await self._maintain_forever()
        finally:
            remove = getattr(self.host.get_network(), "remove_notifee", None)
            if remove is not None:
                remove(notifee)

    # -- requests ------------------------------------------------------------------------------
    async def subscribe(self, peer: str, content_topics: Iterable[str], pubsub_topic: str | None = None,
                        request_id: str | None = None) -> None:
        """Ask ``peer`` (a peer id, or a multiaddr ending in /p2p/<id>) to push messages with
        these content topics. Without ``pubsub_topic`` each content topic goes to its autoshard
        (one request per shard, as nwaku does). Raises FilterError, PeerUnreachable, TopicError."""
        self.mount()
        sp = self._service_peer(peer)
        for topic, topics in self.group_by_pubsub_topic(content_topics, pubsub_topic).items():
            new = {(topic, ct) for ct in topics} - sp.criteria
            sp.criteria |= new  # before the request: a push may overtake the response
            try:
                await self._call(sp.peer_id, SubscribeType.SUBSCRIBE, topic, topics, request_id)
            except (FilterError, PeerUnreachable):
                sp.criteria -= new
                raise
        sp.next_check = trio.current_time() + self.ping_interval
        self._wake.set()

    async def unsubscribe(self, peer: str, content_topics: Iterable[str], pubsub_topic: str | None = None,
                          request_id: str | None = None) -> None:
        sp = self._service_peer(peer)
        for topic, topics in self.group_by_pubsub_topic(content_topics, pubsub_topic).items():
            sp.criteria -= {(topic, ct) for ct in topics}  # stop delivering now, whatever it answers
            await self._call(sp.peer_id, SubscribeType.UNSUBSCRIBE, topic, topics, request_id)

    async def unsubscribe_all(self, peer: str, request_id: str | None = None) -> None:
        sp = self._service_peer(peer)
        sp.criteria.clear()
        await self._call(sp.peer_id, SubscribeType.UNSUBSCRIBE_ALL, None, (), request_id)

    async def ping(self, peer: str, request_id: str | None = None) -> None:
        """Raises FilterError(404) if ``peer`` holds no subscription of ours."""
        sp = self._service_peer(peer)
        await self._call(sp.peer_id, SubscribeType.SUBSCRIBER_PING, None, (), request_id)

    async def send(self, peer: str, req: SubscribeRequest) -> SubscribeResponse:
        """One raw request and the service's response, whatever its status (no local state
        changes). Raises PeerUnreachable, or FilterError(300) for a nonsensical answer."""
        peer_id = self._service_peer(peer).peer_id if peer.startswith("/") else peer
        _, data = await request(self.host, peer_id, (FILTER_SUBSCRIBE,), encode_request(req),
                                MAX_RESPONSE_BYTES, self.timeout)
        try:
            response = decode_response(data)
        except RemoteProtocolError as exc:
            raise FilterError(Status.BAD_RESPONSE, f"BAD_RESPONSE: {exc}", req.request_id) from None
        # nwaku answers rate-limited requests without their id ("N/A")
        if response.request_id != req.request_id and response.status_code != Status.TOO_MANY_REQUESTS:
            raise FilterError(Status.BAD_RESPONSE, "BAD_RESPONSE: response for another request id",
                              req.request_id)
        return response

    async def _call(self, peer_id: str, kind: SubscribeType, pubsub_topic: str | None,
                    content_topics: Iterable[str], request_id: str | None) -> None:
        req = SubscribeRequest(request_id or str(uuid.uuid4()), kind, pubsub_topic, tuple(content_topics))
        self.stats[f"requests_{kind.name.lower()}"] += 1
        response = await self.send(peer_id, req)
        for wait in RATE_LIMITED_RETRIES:
            if response.status_code != Status.TOO_MANY_REQUESTS:
                break
            self.stats["retried_429"] += 1
            await trio.sleep(wait)
            response = await self.send(peer_id, req)
        if not response.ok:
            self.stats[f"refused_{response.status_code}"] += 1
            raise FilterError(response.status_code, response.status_desc or f"filter error {response.status_code}",
                              req.request_id)

    # -- receiving -----------------------------------------------------------------------------
    def messages(self, pubsub_topic: str | None = None, content_topics: Iterable[str] | None = None,
                 buffer: int | None = None) -> FilterSubscription:
        """A new bounded subscription to pushed messages (subscribe with a peer separately)."""
        if pubsub_topic is not None:
            parse_pubsub_topic(pubsub_topic)
        return self.inbox.open(pubsub_topic, content_topics, buffer or self.buffer)

    async def _on_push(self, peer: str, data: bytes) -> None:
        push = decode_push(data)  # malformed: RemoteProtocolError, counted by the OneWayServer
        message = push.message
        topic = push.pubsub_topic or self._autoshard(message.content_topic)
        sp = self._peers.get(peer)
        if topic is None or sp is None or (topic, message.content_topic) not in sp.criteria:
            self.stats["pushes_unsolicited"] += 1
            log.debug("filter: dropped a push from %s we did not subscribe to (%s, %s)",
                      peer, topic, message.content_topic)
            return
        digest = message_hash(topic, message)
        if digest in self._seen:
            self.stats["pushes_duplicate"] += 1
            return
        self._seen[digest] = None
        if len(self._seen) > SEEN_CAPACITY:
            self._seen.popitem(last=False)
        self.stats["pushes_received"] += 1
        self._deliver(Envelope(topic, message, digest, peer, self.wall_clock_ns()))

    def _deliver(self, env: Envelope) -> None:
        for listener in self.listeners:
            try:
                listener(env)
            except Exception:  # a broken listener must not stop delivery
                self.stats["listener_errors"] += 1
                log.exception("filter push listener failed")
        _, dropped = self.inbox.deliver(env)
        self.stats["subscriber_drops"] += dropped

    # -- keeping subscriptions alive -----------------------------------------------------------
    async def _maintain_forever(self) -> None:
        while True:
            now = trio.current_time()
            for sp in [p for p in self._peers.values() if p.criteria and p.next_check <= now]:
                await self._maintain(sp)
            wake_at = min((p.next_check for p in self._peers.values() if p.criteria),
                          default=now + self.ping_interval)
            with trio.move_on_at(wake_at):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _maintain(self, sp: _ServicePeer) -> None:
        """Ping; subscribe again when the peer lost us (404) or we lost it (earlier failures)."""
        try:
            await self._ensure_connected(sp)
            if sp.failures == 0:
                try:
                    await self._call(sp.peer_id, SubscribeType.SUBSCRIBER_PING, None, (), None)
                    sp.next_check = trio.current_time() + self.ping_interval
                    return
                except FilterError as exc:
                    if exc.status_code != Status.NOT_FOUND:
                        raise
            await self._resubscribe(sp)
        except (FilterError, PeerUnreachable) as exc:
            sp.failures += 1
            self.stats["keepalive_failures"] += 1
            first, longest = RETRY_INTERVAL
            wait = min(first * 2 ** (sp.failures - 1), longest, self.ping_interval)
            sp.next_check = trio.current_time() + wait
            log.info("filter: service peer %s: %s; retrying in %.1f s", sp.peer_id, exc, wait)
            return
        sp.failures = 0
        sp.next_check = trio.current_time() + self.ping_interval

    async def _resubscribe(self, sp: _ServicePeer) -> None:
        by_topic: dict[str, list[str]] = {}
        for topic, content_topic in sorted(sp.criteria):
            by_topic.setdefault(topic, []).append(content_topic)
        for topic, topics in by_topic.items():
            for start in range(0, len(topics), 100):  # nwaku's limit per request
                await self._call(sp.peer_id, SubscribeType.SUBSCRIBE, topic, topics[start:start + 100], None)
        self.stats["resubscriptions"] += 1
        log.info("filter: subscribed again with %s (%d criteria)", sp.peer_id, len(sp.criteria))

    async def _ensure_connected(self, sp: _ServicePeer) -> None:
        peer_id = ID.from_base58(sp.peer_id)
        network = self.host.get_network()
        if network.connections.get(peer_id):
            return
        # Our own backoff decides when to retry: py-libp2p would refuse redials for 60 s.
        unblock = getattr(network, "unblock_peer", None)
        if unblock is not None:
            unblock(peer_id)
        if not sp.addrs:
            return  # the request dials the peerstore's addresses, if any
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                await self.host.connect(PeerInfo(peer_id, sp.addrs))
        except trio.TooSlowError:
            raise PeerUnreachable(f"dialing {sp.peer_id} timed out") from None
        except Exception as exc:  # py-libp2p reports dial failures with many exception types
            raise PeerUnreachable(f"could not connect to {sp.peer_id}: {exc}") from None

    def _on_connection_closed(self, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id
        if not self.host.get_network().connections.get(peer_id):  # the last connection to it is gone
            self._on_disconnected(str(peer_id))

    def _on_disconnected(self, peer_id: str) -> None:
        sp = self._peers.get(peer_id)
        if sp is not None and sp.criteria:
            sp.failures = max(sp.failures, 1)  # what it held for us may be gone: subscribe again
            sp.next_check = trio.current_time() + RETRY_INTERVAL[0]
            self._wake.set()

    def _on_connected(self, peer_id: str) -> None:
        sp = self._peers.get(peer_id)
        if sp is not None and sp.criteria and sp.failures:
            sp.next_check = trio.current_time()
            self._wake.set()

    # -- helpers -------------------------------------------------------------------------------
    def _service_peer(self, peer: str) -> _ServicePeer:
        addr: Multiaddr | None = None
        if peer.startswith("/"):
            addr = parse_multiaddr(peer, what="service peer", need_peer_id=True)  # ConfigError if not
            info = info_from_p2p_addr(addr)
            peer_id = str(info.peer_id)
            self.host.get_peerstore().add_addrs(info.peer_id, info.addrs, 3600 * 24)
        else:
            peer_id = peer
        sp = self._peers.get(peer_id)
        if sp is None:
            sp = self._peers[peer_id] = _ServicePeer(peer_id)
        if addr is not None:
            transport = info_from_p2p_addr(addr).addrs
            sp.addrs = transport + [a for a in sp.addrs if a not in transport]
        return sp

    def group_by_pubsub_topic(self, content_topics: Iterable[str], pubsub_topic: str | None) -> dict[str, list[str]]:
        """The requests a subscription takes: content topics by pubsub topic (their autoshards
        when ``pubsub_topic`` is None; TopicError for a content topic that has none)."""
        topics = list(dict.fromkeys(content_topics))
        if pubsub_topic is not None:
            return {pubsub_topic: topics}
        groups: dict[str, list[str]] = {}
        for ct in topics:
            parse_content_topic(ct)  # autosharding needs a well-formed content topic (TopicError)
            groups.setdefault(autoshard_pubsub_topic(ct, self.cluster_id, self.num_shards), []).append(ct)
        return groups

    def _autoshard(self, content_topic: str) -> str | None:
        try:
            return autoshard_pubsub_topic(content_topic, self.cluster_id, self.num_shards)
        except TopicError:
            return None

    @property
    def service_peers(self) -> list[str]:
        """Peers holding subscriptions of ours."""
        return [p.peer_id for p in self._peers.values() if p.criteria]

    def criteria(self, peer: str) -> frozenset[Criterion]:
        sp = self._peers.get(peer)
        return frozenset(sp.criteria) if sp else frozenset()

    def statistics(self) -> dict[str, Any]:
        return {
            "service_peers": {p.peer_id: {"criteria": len(p.criteria), "failures": p.failures}
                              for p in self._peers.values() if p.criteria},
            "subscribers": len(self.inbox),
            **dict(self.stats),
            "push_refusals": dict(self.pushes.stats.refusals),
        }
