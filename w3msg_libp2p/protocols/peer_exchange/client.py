"""Peer exchange requester: ask a peer for records, verify them, make the peers dialable.

``await PeerExchangeClient(host).request(peer, num_peers)`` returns the verified records and
adds each peer's addresses to the host's peerstore, so ``host.connect`` (or ``node.connect``
with one of ``enr.dial_addrs()``) reaches it. Records that fail verification are skipped and
counted; a non-200 answer raises RemoteProtocolError carrying its status code.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from libp2p.abc import IHost
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from ...core.enr import Enr
from ...core.errors import PeerUnreachable, RemoteProtocolError
from ...net.reqresp import DEFAULT_TIMEOUT, request
from .codec import MAX_RESPONSE_BYTES, decode_response, encode_query, parse_enrs
from .rpc import DEFAULT_NUM_PEERS, PROTOCOL_ID, PeerExchangeQuery, StatusCode

log = logging.getLogger(__name__)

LEARNED_ADDR_TTL = 3600  # seconds the peerstore keeps addresses learned from a record


@dataclass(slots=True)
class ClientStats:
    requests: int = 0
    responses: int = 0
    enrs_received: int = 0
    enrs_accepted: int = 0
    enrs_skipped: Counter[str] = field(default_factory=Counter)  # invalid_enr, malformed_field, ...
    failures: Counter[str] = field(default_factory=Counter)  # unreachable, status_<code>

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "responses": self.responses, "enrs_received": self.enrs_received,
                "enrs_accepted": self.enrs_accepted, "enrs_skipped": dict(self.enrs_skipped),
                "failures": dict(self.failures)}


class PeerExchangeClient:
    def __init__(self, host: IHost, *, timeout: float = DEFAULT_TIMEOUT,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.host = host
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.stats = ClientStats()

    async def request(self, peer: str | ID, num_peers: int = DEFAULT_NUM_PEERS) -> list[Enr]:
        """Ask ``peer`` for up to ``num_peers`` records. Raises PeerUnreachable, or
        RemoteProtocolError with the peer's status code (429 when rate limited, 400 when the
        response is malformed)."""
        self.stats.requests += 1
        try:
            _, data = await request(self.host, peer, (PROTOCOL_ID,), encode_query(PeerExchangeQuery(num_peers)),
                                    self.max_response_bytes, self.timeout)
            response = decode_response(data, self.max_response_bytes)
        except PeerUnreachable:
            self.stats.failures["unreachable"] += 1
            raise
        except RemoteProtocolError as exc:
            self.stats.failures[f"status_{exc.status_code}"] += 1
            raise
        if response.status_code != StatusCode.SUCCESS:
            self.stats.failures[f"status_{response.status_code}"] += 1
            raise RemoteProtocolError(
                f"peer exchange with {peer}: {response.status_code} {response.status_desc or ''}".rstrip(),
                response.status_code)
        self.stats.responses += 1
        return self._accept(response.enrs, num_peers)

    def _accept(self, raws: tuple[bytes, ...], num_peers: int) -> list[Enr]:
        self.stats.enrs_received += len(raws)
        if len(raws) > num_peers:  # more than we asked for: the excess is not our problem to parse
            self.stats.enrs_skipped["excess"] += len(raws) - num_peers
            raws = raws[:num_peers]
        enrs, skipped = parse_enrs(raws)
        self.stats.enrs_skipped.update(skipped)
        if skipped:
            log.debug("peer exchange: skipped records: %s", dict(skipped))
        own = self.host.get_id()
        enrs = [e for e in enrs if ID(e.peer_id_bytes) != own]
        for enr in enrs:
            self._remember(enr)
        self.stats.enrs_accepted += len(enrs)
        return enrs

    def _remember(self, enr: Enr) -> None:
        """Make the peer dialable by id. Connected peers are left alone: their addresses are
        already known, and a TTL here would override the one the connection set."""
        peer_id = ID(enr.peer_id_bytes)
        if self.host.get_network().connections.get(peer_id):
            return
        suffix = f"/p2p/{enr.peer_id}"
        addrs = [Multiaddr(a.removesuffix(suffix)) for a in enr.dial_addrs()]
        if addrs:
            self.host.get_peerstore().add_addrs(peer_id, addrs, LEARNED_ADDR_TTL)
