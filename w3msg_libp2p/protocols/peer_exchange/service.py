"""Peer exchange on a node: the responder on a stream, the requester, and a refresh loop.

The refresh loop keeps the responder's cache filled as the spec asks (peers retrieved before
anyone requests them): every connected peer that advertises peer exchange (identify) is asked
for records once per ``refresh_interval``; what it returns, its own record included, goes to
the cache. Records a caller obtains through ``request()`` go to the cache as well.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerstore import PeerStoreError

from ...core.enr import Enr
from ...core.errors import PeerUnreachable, RemoteProtocolError
from ...net.reqresp import RequestResponseProtocol, RequestResponseServer
from ...node.enr import LocalEnr
from ...node.service_config import PeerExchangeConfig
from .client import PeerExchangeClient
from .codec import MAX_REQUEST_BYTES, refuse
from .rpc import DEFAULT_NUM_PEERS, PROTOCOL_ID
from .server import DEFAULT_CACHE_SIZE, DEFAULT_MAX_AGE, PeerExchangeServer

if TYPE_CHECKING:
    from ...node.node import Node

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 600.0  # nwaku refreshes its peer exchange peers every 10 minutes
POLL_INTERVAL = 2.0  # how often the loop looks for connected peers due for a query


class PeerExchangeService:
    def __init__(self, node: Node, config: PeerExchangeConfig, *, rng: random.Random | None = None,
                 refresh_interval: float | None = REFRESH_INTERVAL, poll_interval: float = POLL_INTERVAL,
                 cache_size: int = DEFAULT_CACHE_SIZE, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.node = node
        self.config = config
        self.refresh_interval = refresh_interval
        self.poll_interval = poll_interval
        # One record builder per node: the node's own when it has one (same seq everywhere).
        local = getattr(node, "local_enr", None)
        self.local_enr = local if isinstance(local, LocalEnr) else LocalEnr(node)
        self.core = PeerExchangeServer(
            max_peers_per_response=config.max_peers_per_response, cluster_id=node.config.cluster_id,
            rng=rng or random.SystemRandom(), cache_size=cache_size, max_age=max_age,
            own_peer_id=node.peer_id)
        self.client = PeerExchangeClient(node.host)
        self.server = RequestResponseServer(node.host, RequestResponseProtocol(
            (PROTOCOL_ID,), self.handle, refuse, MAX_REQUEST_BYTES, rate_limit=config.rate_limit))
        self.refresh_failures: Counter[str] = Counter()
        self._queried_at: dict[str, float] = {}

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.server.mount()
        async with trio.open_nursery() as nursery:
            if self.refresh_interval is not None:
                nursery.start_soon(self._refresh_loop)
            task_status.started()
            await trio.sleep_forever()

    async def handle(self, peer_id: str, request: bytes) -> bytes:
        """Stream-independent handler: request bytes from ``peer_id`` in, response bytes out."""
        return self.core.handle(peer_id, request, self.local_enr.current(), trio.current_time())

    async def request(self, peer: str | ID, num_peers: int = DEFAULT_NUM_PEERS) -> list[Enr]:
        """Ask ``peer`` for records (see PeerExchangeClient.request); they are cached for our
        own responses too."""
        enrs = await self.client.request(peer, num_peers)
        now = trio.current_time()
        for enr in enrs:
            self.core.learn(enr, now)
        return enrs

    def known_enrs(self) -> list[Enr]:
        return self.core.known(trio.current_time())

    def statistics(self) -> dict[str, Any]:
        return {
            "server": {**self.server.stats.as_dict(), **self.core.stats.as_dict()},
            "client": self.client.stats.as_dict(),
            "cached_enrs": len(self.core.known(trio.current_time())),
            "refresh_failures": dict(self.refresh_failures),
            "enr": self.local_enr.uri,
        }

    # -- keeping the cache filled ------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        while True:
            await self.refresh_once()
            await trio.sleep(self.poll_interval)

    async def refresh_once(self) -> int:
        """Query every connected peer-exchange peer not asked within ``refresh_interval``;
        returns how many were asked."""
        asked = 0
        for peer in self._due_peers():
            self._queried_at[peer] = trio.current_time()
            asked += 1
            try:
                await self.request(peer, self.config.max_peers_per_response)
            except (PeerUnreachable, RemoteProtocolError) as exc:
                reason = "unreachable" if isinstance(exc, PeerUnreachable) else f"status_{exc.status_code}"
                self.refresh_failures[reason] += 1
                log.debug("peer exchange refresh from %s failed: %s", peer, exc)
        return asked

    def _due_peers(self) -> list[str]:
        now = trio.current_time()
        interval = self.refresh_interval or 0.0
        store = self.node.host.get_peerstore()
        due = []
        connected = self.node.connected_peer_ids()
        for peer in connected:
            last = self._queried_at.get(peer)
            if last is not None and now - last < interval:
                continue
            try:
                protocols = store.get_protocols(ID.from_base58(peer))
            except PeerStoreError:  # not identified yet
                continue
            if PROTOCOL_ID in protocols:
                due.append(peer)
        # forget peers that left, so the map stays bounded by the connected set
        for peer in set(self._queried_at) - set(connected):
            del self._queried_at[peer]
        return due
