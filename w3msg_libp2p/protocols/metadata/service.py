"""Trio adapter: answers metadata requests, and asks every newly connected peer for its cluster
and shards, disconnecting peers of another cluster (as nwaku's peer manager does)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

import trio
from libp2p.abc import INetConn
from libp2p.peer.id import ID

from ...core.errors import PeerUnreachable, RemoteProtocolError
from ...core.ratelimit import RateLimit
from ...net.notifee import ConnectionEvents
from ...net.reqresp import RequestResponseProtocol, RequestResponseServer, request
from . import codec
from .rpc import METADATA_PROTOCOL, Metadata
from .server import MetadataServer, judge, local_metadata

if TYPE_CHECKING:
    from ...node.node import Node

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 10.0


# A peer asks once per connection; a burst of 10 covers reconnect storms, more is flooding.
METADATA_RATE_LIMIT = RateLimit(10, 1.0)

class MetadataService:
    """Always mounted. ``peer_metadata(peer)`` is what a connected peer told us."""

    def __init__(self, node: Node, *, timeout: float = QUERY_TIMEOUT) -> None:
        self.node = node
        self.timeout = timeout
        core = MetadataServer(self.local)
        self.server = RequestResponseServer(node.host, RequestResponseProtocol(
            (METADATA_PROTOCOL,), core.handle, core.refuse, codec.MAX_METADATA_BYTES,
            rate_limit=METADATA_RATE_LIMIT))
        self.outcomes: Counter[str] = Counter()  # of our queries, by verdict or failure
        self._peers: dict[str, Metadata] = {}
        self._querying: set[str] = set()
        self._learned = trio.Event()
        self._nursery: trio.Nursery | None = None

    def local(self) -> Metadata:
        """What we announce: our cluster, and the shards our relay is subscribed to now (none
        without relay)."""
        relay = self.node.relay
        topics = relay.subscribed_topics if relay is not None else ()
        return local_metadata(self.node.config.cluster_id, topics)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        network = self.node.host.get_network()
        notifee = ConnectionEvents(self.on_connected, self.on_disconnected)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.server.mount()
            network.register_notifee(notifee)
            for peer_id, conns in list(network.connections.items()):
                if conns:
                    nursery.start_soon(self._query, peer_id)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                network.remove_notifee(notifee)
                self._nursery = None

    # -- what peers told us ------------------------------------------------------------------
    def peer_metadata(self, peer_id: str) -> Metadata | None:
        return self._peers.get(peer_id)

    async def wait_for_peer(self, peer_id: str, timeout: float = 10.0) -> Metadata:
        with trio.fail_after(timeout):
            while peer_id not in self._peers:
                await self._learned.wait()
        return self._peers[peer_id]

    # -- connection events -------------------------------------------------------------------
    def on_connected(self, conn: INetConn) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._query, conn.muxed_conn.peer_id)

    def on_disconnected(self, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id
        if not self.node.host.get_network().connections.get(peer_id):
            self._peers.pop(str(peer_id), None)

    async def _query(self, peer_id: ID) -> None:
        peer = str(peer_id)
        if peer in self._querying:
            return  # a second connection to a peer we are already asking
        self._querying.add(peer)
        try:
            theirs = await self._ask(peer_id)
        finally:
            self._querying.discard(peer)
        if theirs is None:
            return
        verdict = judge(self.node.config.cluster_id, theirs)
        self.outcomes[verdict.reason] += 1
        if verdict.keep:
            self._peers[peer] = theirs
            self._learned.set()
            self._learned = trio.Event()
            return
        log.info("disconnecting %s: it is in cluster %s, we are in cluster %d",
                 peer, theirs.cluster_id, self.node.config.cluster_id)
        try:
            await self.node.host.disconnect(peer_id)
        except Exception as exc:  # py-libp2p raises various types for a connection already gone
            self.outcomes["disconnect_failed"] += 1
            log.warning("could not disconnect %s: %s", peer, exc)

    async def _ask(self, peer_id: ID) -> Metadata | None:
        """The peer's answer, or None if it gave none we can use (it is kept then)."""
        try:
            _, data = await request(self.node.host, peer_id, (METADATA_PROTOCOL,),
                                    codec.encode_request(self.local()), codec.MAX_METADATA_BYTES, self.timeout)
            return codec.decode_response(data)
        except PeerUnreachable as exc:  # most often: the peer does not speak metadata
            self.outcomes["no_answer"] += 1
            log.debug("no metadata from %s: %s", peer_id, exc)
        except RemoteProtocolError as exc:
            self.outcomes["malformed_answer"] += 1
            log.debug("malformed metadata from %s: %s", peer_id, exc)
        return None

    def statistics(self) -> dict[str, Any]:
        ours = self.local()
        return {
            "cluster_id": ours.cluster_id,
            "shards": list(ours.shards),
            "known_peers": len(self._peers),
            "queries": dict(self.outcomes),
            "disconnected": self.outcomes["cluster_mismatch"],
            "server": self.server.stats.as_dict(),
        }
