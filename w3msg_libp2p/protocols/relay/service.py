"""Trio adapter: runs the gossipsub router on py-libp2p streams.

One inbound stream per peer is read and fed to the router; one outbound stream per peer is
written by a dedicated task that coalesces everything queued for that peer into as few RPC
frames as it can (per-write cost, not bytes, dominates py-libp2p's CPU use).
Back-pressure: while a peer's send queue is above the high-water mark, readers pause (up to a
bound) and local publishers wait; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from libp2p.abc import IHost, INetConn, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from ...core.errors import PublishError, RemoteProtocolError
from ...core.framing import FrameDecoder, encode_uvarint
from ...net.notifee import ConnectionEvents
from ...net.reqresp import STREAM_GONE, reset_quietly
from .codec import decode_rpc
from .events import Deliver, DisconnectPeer
from .params import RELAY_PROTOCOLS
from .router import GossipRouter

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
HIGH_WATER_BYTES = 2 * 1024 * 1024
READER_PAUSE_LIMIT = 1.0  # seconds a reader waits for a congested peer before reading on
NEW_STREAM_TIMEOUT = 10.0
REOPEN_DELAY = 1.0
OPEN_ATTEMPTS = 3
BACKLOG_POLL = 0.002


@dataclass(slots=True)
class _PeerLink:
    wake: trio.Event = field(default_factory=trio.Event)
    stream: INetStream | None = None
    writer_running: bool = False


class RelayService:
    def __init__(
        self,
        host: IHost,
        router: GossipRouter,
        on_deliver: Callable[[Deliver], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        local_backlog: Callable[[], bool] = lambda: False,
        protocols: tuple[str, ...] = RELAY_PROTOCOLS,
    ) -> None:
        self.host = host
        self.protocols = tuple(TProtocol(p) for p in protocols)  # in order of preference
        self.router = router
        self.on_deliver = on_deliver
        self.monotonic = monotonic
        self.local_backlog = local_backlog  # True while local consumers (subscribers) lag behind
        self._links: dict[str, _PeerLink] = {}
        self._congested: set[str] = set()
        self._uncongested = trio.Event()
        self._uncongested.set()
        self._nursery: trio.Nursery | None = None
        self.stream_errors: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for proto in self.protocols:
                self.host.set_stream_handler(proto, self._handle_inbound)
            notifee = ConnectionEvents(self.on_connected, self.on_disconnected)
            network = self.host.get_network()
            network.register_notifee(notifee)
            for peer_id in list(network.connections):
                nursery.start_soon(self._open_outbound, peer_id)
            nursery.start_soon(self._heartbeat_loop)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                network.remove_notifee(notifee)

    def _count_error(self, reason: str) -> None:
        self.stream_errors[reason] = self.stream_errors.get(reason, 0) + 1
        self.router.drop(reason)

    # -- connection events -------------------------------------------------------------
    def on_connected(self, conn: INetConn) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._open_outbound, conn.muxed_conn.peer_id)

    def on_disconnected(self, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id
        if self.host.get_network().connections.get(peer_id):
            return  # another connection to this peer is still up
        peer = str(peer_id)
        self.router.remove_peer(peer, self.monotonic())
        link = self._links.pop(peer, None)
        if link is not None:
            link.wake.set()
        self._set_congestion(peer, False)
        self._flush()

    # -- outbound ------------------------------------------------------------------------
    async def _open_outbound(self, peer_id: ID, *, reopened: bool = False) -> None:
        peer = str(peer_id)
        link = self._links.setdefault(peer, _PeerLink())
        if link.writer_running:
            return
        link.writer_running = True
        try:
            stream = await self._new_relay_stream(peer_id)
            if stream is None:
                return
            link.stream = stream
            self._ensure_peer(peer, stream, reopened=reopened)
            await self._write_loop(peer, link, stream)
        finally:
            link.writer_running = False

    async def _new_relay_stream(self, peer_id: ID) -> INetStream | None:
        """Our outbound relay stream to ``peer_id``, or None if it cannot be had. A negotiation
        can fail transiently (a reset racing the handshake), so it is retried a few times while
        the connection lasts, unless identify says the peer has no relay (a light client)."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                with trio.fail_after(NEW_STREAM_TIMEOUT):
                    return await self.host.new_stream(peer_id, list(self.protocols))
            except Exception as exc:  # dial/negotiation failures come in many py-libp2p types
                log.debug("relay: no relay stream to %s (attempt %d): %s", peer_id, attempt + 1, exc)
                self._count_error("outbound_stream_failed")
            await trio.sleep(REOPEN_DELAY * (attempt + 1))
            if not self.host.get_network().connections.get(peer_id) or not self._may_relay(peer_id):
                break
        return None

    def _may_relay(self, peer_id: ID) -> bool:
        try:
            protocols = set(self.host.get_peerstore().get_protocols(peer_id))
        except Exception:  # no identify record yet: give it the benefit of the doubt
            return True
        return not protocols or bool(protocols & set(self.protocols))

    def _reopen_later(self, peer: str, link: _PeerLink) -> None:
        """The stream died but the connection may not have: try a fresh stream shortly."""
        if self._links.get(peer) is link:
            del self._links[peer]
        if self._nursery is not None:
            self._nursery.start_soon(self._reopen, peer)

    async def _reopen(self, peer: str) -> None:
        await trio.sleep(REOPEN_DELAY)
        peer_id = ID.from_base58(peer)
        if self.host.get_network().connections.get(peer_id) and peer not in self._links:
            await self._open_outbound(peer_id, reopened=True)

    def _ensure_peer(self, peer: str, stream: INetStream, *, reopened: bool = False) -> None:
        if peer in self.router.peers:
            if reopened:
                self.router.resync_peer(peer)
                self._flush()
            return
        muxed = stream.muxed_conn
        remote = muxed.get_remote_address() if hasattr(muxed, "get_remote_address") else None
        ips = frozenset({remote[0]}) if remote else frozenset()
        protocol = str(stream.get_protocol() or self.protocols[0])
        outbound = bool(getattr(muxed, "is_initiator", False))
        self.router.add_peer(peer, protocol, outbound=outbound, now=self.monotonic(), ips=ips)
        self._flush()

    async def _write_loop(self, peer: str, link: _PeerLink, stream: INetStream) -> None:
        router = self.router
        while self._links.get(peer) is link:
            bodies = router.drain(peer)
            self._set_congestion(peer, False)
            if not bodies:
                await link.wake.wait()
                link.wake = trio.Event()
                continue
            data = b"".join(encode_uvarint(len(b)) + b for b in bodies)
            try:
                await stream.write(data)
            except STREAM_GONE as exc:
                log.debug("relay: write to %s failed: %s", peer, exc)
                self._count_error("write_failed")
                self._reopen_later(peer, link)
                return

    # -- inbound -------------------------------------------------------------------------
    async def _handle_inbound(self, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        self._ensure_peer(peer, stream)
        decoder = FrameDecoder(self.router.params.max_rpc_size)
        router = self.router
        try:
            while True:
                data = await stream.read(READ_CHUNK)
                if not data:
                    break
                now = self.monotonic()
                for body in decoder.feed(data):
                    try:
                        rpc = decode_rpc(body)
                    except RemoteProtocolError:
                        self._count_error("malformed_rpc")
                        continue
                    router.handle_rpc(peer, rpc, now)
                self._flush()
                if self._congested or self.local_backlog():
                    await self._pause_reading()
        except RemoteProtocolError as exc:  # oversized frame: the stream cannot be resynchronised
            log.debug("relay: %s sent an oversized frame: %s", peer, exc)
            self._count_error("oversized_rpc")
            await reset_quietly(stream)
        except STREAM_GONE as exc:
            log.debug("relay: inbound stream from %s ended: %s", peer, exc)
        except Exception:  # a bug of ours: say so loudly, but do not take the connection down
            log.exception("relay: internal error reading from %s", peer)
            self._count_error("internal_error")
            await reset_quietly(stream)

    async def _pause_reading(self) -> None:
        """Back-pressure towards the sender (TCP window) while our queues are full, bounded so
        that one stuck consumer cannot stall the relay: past the limit, drops are counted."""
        with trio.move_on_after(READER_PAUSE_LIMIT):
            while self._congested:
                await self._uncongested.wait()
            while self.local_backlog():
                await trio.sleep(BACKLOG_POLL)

    # -- router outputs ------------------------------------------------------------------
    def _flush(self) -> None:
        router = self.router
        for peer in router.take_dirty():
            link = self._links.get(peer)
            if link is None:
                continue  # the writer starts once the outbound stream is open, and drains then
            link.wake.set()
            if router.queued_bytes(peer) > HIGH_WATER_BYTES:
                self._set_congestion(peer, True)
        for event in router.take_events():
            match event:
                case Deliver():
                    self.on_deliver(event)
                case DisconnectPeer(peer=peer, reason=reason):
                    log.info("relay: disconnecting %s: %s", peer, reason)
                    if self._nursery is not None:
                        self._nursery.start_soon(self.host.disconnect, ID.from_base58(peer))

    def _set_congestion(self, peer: str, congested: bool) -> None:
        if congested:
            self._congested.add(peer)
            if self._uncongested.is_set():
                self._uncongested = trio.Event()
        elif peer in self._congested:
            self._congested.discard(peer)
            if not self._congested:
                self._uncongested.set()

    async def _heartbeat_loop(self) -> None:
        interval = self.router.params.heartbeat_interval
        while True:
            await trio.sleep(interval)
            self.router.heartbeat(self.monotonic())
            self._flush()

    # -- local API -----------------------------------------------------------------------
    def subscribe(self, topic: str) -> None:
        self.router.subscribe(topic, self.monotonic())
        self._flush()

    def unsubscribe(self, topic: str) -> None:
        self.router.unsubscribe(topic, self.monotonic())
        self._flush()

    async def publish(self, topic: str, data: bytes, timeout: float) -> bytes:
        """Publish, waiting up to ``timeout`` for congested send queues to drain."""
        targets = self.router.publish_targets(topic)
        if targets & self._congested:
            with trio.move_on_after(timeout) as scope:
                while targets & self._congested:
                    await self._uncongested.wait()
            if scope.cancelled_caught:
                self.router.drop("publish_backpressure_timeout")
                raise PublishError(f"send queues to peers on {topic} stayed full for {timeout} s")
        msg_id = self.router.publish(topic, data, self.monotonic())
        self._flush()
        return msg_id

