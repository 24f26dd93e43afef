"""Who wants which messages: the filter service's subscription table. Pure: ``now`` is passed in.

A subscription is a set of criteria (pubsub topic, content topic) per peer. It lives while the
peer keeps showing up (subscribe, unsubscribe or ping) at least every ``timeout`` seconds; an
expired peer receives nothing and is forgotten by the next ``expire(now)``. Peers in total and
criteria per peer are bounded, so no client can make the table grow without limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .rpc import Refusal, Status

Criterion = tuple[str, str]  # (pubsub topic, content topic)


@dataclass(slots=True)
class _Peer:
    last_seen: float
    criteria: set[Criterion] = field(default_factory=set)


class SubscriptionTable:
    def __init__(self, max_peers: int, max_criteria_per_peer: int, timeout: float) -> None:
        self.max_peers = max_peers
        self.max_criteria_per_peer = max_criteria_per_peer
        self.timeout = timeout
        self.expired = 0  # peers forgotten because they stopped showing up
        self._peers: dict[str, _Peer] = {}
        self._by_criterion: dict[Criterion, set[str]] = {}

    # -- queries -------------------------------------------------------------------------------
    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    @property
    def peer_ids(self) -> list[str]:
        return list(self._peers)

    @property
    def criteria_count(self) -> int:
        return sum(len(p.criteria) for p in self._peers.values())

    def is_subscribed(self, peer: str, now: float) -> bool:
        entry = self._peers.get(peer)
        return entry is not None and self._live(entry, now)

    def criteria(self, peer: str) -> frozenset[Criterion]:
        entry = self._peers.get(peer)
        return frozenset(entry.criteria) if entry else frozenset()

    def peers_for(self, pubsub_topic: str, content_topic: str, now: float) -> list[str]:
        """The live subscribers of one (pubsub topic, content topic)."""
        peers = self._by_criterion.get((pubsub_topic, content_topic), ())
        return [p for p in peers if self._live(self._peers[p], now)]

    # -- changes -------------------------------------------------------------------------------
    def add(self, peer: str, criteria: Iterable[Criterion], now: float) -> None:
        """Add criteria to ``peer``'s subscription (creating it), refreshing it.

        Raises Refusal(503) when the peer would exceed its criteria, or when it is
        new and the table is full of live peers.
        """
        entry = self._peers.get(peer)
        if entry is not None and not self._live(entry, now):
            self.remove_peer(peer)  # an expired subscription is gone, even if not yet swept
            self.expired += 1
            entry = None
        wanted = set(criteria)
        held = entry.criteria if entry else set()
        # Unlike nwaku, criteria already held do not count again: refreshing a full
        # subscription with the same criteria must keep working.
        if len(held | wanted) > self.max_criteria_per_peer:
            raise Refusal("peer has reached maximum number of filter criteria", Status.SERVICE_UNAVAILABLE,
                          "too_many_criteria")
        if entry is None:
            if len(self._peers) >= self.max_peers:
                self.expire(now)
            if len(self._peers) >= self.max_peers:
                raise Refusal(f"node has reached maximum number of subscriptions: {self.max_peers}",
                              Status.SERVICE_UNAVAILABLE, "too_many_peers")
            entry = self._peers[peer] = _Peer(now)
        entry.last_seen = now
        for criterion in wanted - entry.criteria:
            entry.criteria.add(criterion)
            self._by_criterion.setdefault(criterion, set()).add(peer)

    def remove(self, peer: str, criteria: Iterable[Criterion], now: float) -> None:
        """Drop criteria from ``peer``'s subscription; a subscription left empty is removed.

        Raises Refusal(404) if the peer has no live subscription. Criteria it does
        not hold are ignored (nwaku's answer depends on whether another peer holds them).
        """
        entry = self._peers.get(peer)
        if entry is None or not self._live(entry, now):
            raise Refusal("peer has no subscriptions", Status.NOT_FOUND, "not_subscribed")
        entry.last_seen = now
        for criterion in set(criteria) & entry.criteria:
            entry.criteria.discard(criterion)
            self._unindex(criterion, peer)
        if not entry.criteria:
            del self._peers[peer]

    def remove_peer(self, peer: str) -> bool:
        entry = self._peers.pop(peer, None)
        if entry is None:
            return False
        for criterion in entry.criteria:
            self._unindex(criterion, peer)
        return True

    def refresh(self, peer: str, now: float) -> bool:
        """A ping: True (and the subscription refreshed) if ``peer`` has a live subscription."""
        entry = self._peers.get(peer)
        if entry is None or not self._live(entry, now):
            return False
        entry.last_seen = now
        return True

    def expire(self, now: float) -> list[str]:
        """Forget every peer not seen for longer than the timeout; returns them."""
        gone = [p for p, entry in self._peers.items() if not self._live(entry, now)]
        for peer in gone:
            self.remove_peer(peer)
        self.expired += len(gone)
        return gone

    # -- internals -----------------------------------------------------------------------------
    def _live(self, entry: _Peer, now: float) -> bool:
        return now - entry.last_seen <= self.timeout

    def _unindex(self, criterion: Criterion, peer: str) -> None:
        peers = self._by_criterion.get(criterion)
        if peers is not None:
            peers.discard(peer)
            if not peers:
                del self._by_criterion[criterion]
