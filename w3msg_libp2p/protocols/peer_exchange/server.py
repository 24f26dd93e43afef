"""Peer exchange responder: a cache of other peers' records and how a response is drawn from it.
Pure: no trio, no libp2p; time and randomness are parameters.

Where the records come from. nwaku serves only records it found through discv5; we have no
discv5, so the cache holds the records we learned through peer exchange itself (our own queries,
including the record each queried peer gives of itself). A responder also offers its OWN record:
without it nobody could learn a peer's record before a third party knew it, and a network using
only peer exchange would never spread any record. Connected peers' records are never served
from elsewhere: we do not have them (neither identify nor metadata carries an ENR), and the spec
forbids serving the active peer list anyway.

A response of n = min(num_peers, max_peers_per_response) records is a random sample of the
cache (as the spec suggests) excluding the requester's own record, plus our own record in one
of the n slots when n >= 2 or when the cache has nothing else to offer.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...core.enr import Enr, EnrError
from .codec import decode_query, encode_response
from .rpc import PeerExchangeResponse

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 200  # the spec recommends at least 60 (10 x gossipsub D)
DEFAULT_MAX_AGE = 1800.0  # seconds a record is served after it was last learned or confirmed


@dataclass(slots=True)
class _Entry:
    enr: Enr
    learned_at: float


@dataclass(slots=True)
class PeerExchangeStats:
    requests: int = 0
    responses: int = 0
    enrs_sent: int = 0
    learned: int = 0  # records added or replaced by a newer seq
    not_learned: Counter[str] = field(default_factory=Counter)  # by reason
    evicted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "responses": self.responses, "enrs_sent": self.enrs_sent,
                "learned": self.learned, "not_learned": dict(self.not_learned), "evicted": self.evicted}


class PeerExchangeServer:
    def __init__(self, *, max_peers_per_response: int, cluster_id: int | None, rng: random.Random,
                 cache_size: int = DEFAULT_CACHE_SIZE, max_age: float = DEFAULT_MAX_AGE,
                 own_peer_id: str | None = None) -> None:
        self.max_peers_per_response = max_peers_per_response
        self.cluster_id = cluster_id
        self.rng = rng
        self.cache_size = cache_size
        self.max_age = max_age
        self.own_peer_id = own_peer_id
        self.stats = PeerExchangeStats()
        self._cache: dict[str, _Entry] = {}  # peer id -> entry, least recently learned first

    # -- learning -------------------------------------------------------------------------------
    def learn(self, enr: Enr, now: float) -> bool:
        """Add a verified record to the cache; False (counted by reason) when it is not kept."""
        reason = self._refusal(enr)
        if reason is None:
            previous = self._cache.get(enr.peer_id)
            if previous is not None and previous.enr.seq > enr.seq:
                reason = "older_seq"
        if reason is not None:
            self.stats.not_learned[reason] += 1
            log.debug("peer exchange: not caching %s: %s", enr.peer_id, reason)
            return False
        previous = self._cache.pop(enr.peer_id, None)
        self._cache[enr.peer_id] = _Entry(enr, now)
        if previous is None or previous.enr.seq < enr.seq:
            self.stats.learned += 1
        while len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]
            self.stats.evicted += 1
        return True

    def _refusal(self, enr: Enr) -> str | None:
        if enr.peer_id == self.own_peer_id:
            return "own_record"
        try:
            shards = enr.relay_shards
            dialable = bool(enr.dial_addrs())
        except EnrError:
            return "malformed_field"
        if self.cluster_id is not None and shards is not None and shards.cluster_id != self.cluster_id:
            return "cluster_mismatch"
        if not dialable:
            return "no_address"
        return None

    def known(self, now: float) -> list[Enr]:
        """The records we would serve now, oldest first."""
        self._expire(now)
        return [e.enr for e in self._cache.values()]

    def _expire(self, now: float) -> None:
        for peer_id in [p for p, e in self._cache.items() if now - e.learned_at > self.max_age]:
            del self._cache[peer_id]
            self.stats.evicted += 1

    # -- responding -----------------------------------------------------------------------------
    def select(self, num_peers: int, requester: str, own: Enr | None, now: float) -> list[Enr]:
        n = min(num_peers, self.max_peers_per_response)
        if n <= 0:
            return []
        self._expire(now)
        candidates = [e.enr for peer_id, e in self._cache.items() if peer_id != requester]
        offer_own = own is not None and (n >= 2 or not candidates)
        sample = self.rng.sample(candidates, min(n - offer_own, len(candidates)))
        return [*sample, own] if offer_own and own is not None else sample

    def handle(self, requester: str, request: bytes, own: Enr | None, now: float) -> bytes:
        """The response to one request; a malformed request raises RemoteProtocolError (400)
        for the stream adapter to turn into a refusal."""
        self.stats.requests += 1
        query = decode_query(request)
        enrs = self.select(query.num_peers, requester, own, now)
        self.stats.responses += 1
        self.stats.enrs_sent += len(enrs)
        return encode_response(PeerExchangeResponse(enrs=tuple(e.raw for e in enrs)))
