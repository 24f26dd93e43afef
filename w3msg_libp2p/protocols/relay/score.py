"""Gossipsub v1.1 peer scoring (P1-P7), pure. Weights' signs follow the spec: penalties are
non-positive weights times non-negative squared counters, so a misbehaving peer's score goes down.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .params import ScoreParams

PeerId = str


@dataclass(slots=True)
class _TopicStats:
    in_mesh: bool = False
    graft_time: float = 0.0
    mesh_time: float = 0.0
    first_message_deliveries: float = 0.0
    mesh_message_deliveries: float = 0.0
    mesh_message_deliveries_active: bool = False
    mesh_failure_penalty: float = 0.0
    invalid_message_deliveries: float = 0.0


@dataclass(slots=True)
class _PeerStats:
    connected: bool = True
    expire: float = 0.0
    ips: frozenset[str] = frozenset()
    behaviour_penalty: float = 0.0
    app_score: float = 0.0
    topics: dict[str, _TopicStats] = field(default_factory=dict)

    def topic(self, topic: str) -> _TopicStats:
        stats = self.topics.get(topic)
        if stats is None:
            stats = self.topics[topic] = _TopicStats()
        return stats


class PeerScore:
    """Tracks the counters the score is made of; ``score(peer)`` combines them."""

    def __init__(self, params: ScoreParams) -> None:
        self.params = params
        self._peers: dict[PeerId, _PeerStats] = {}
        self._peers_by_ip: dict[str, set[PeerId]] = defaultdict(set)
        self._cache: dict[PeerId, float] = {}
        self._last_decay: float | None = None  # set by the first refresh: decay counts from there

    # -- membership ------------------------------------------------------------------
    def add_peer(self, peer: PeerId, ips: frozenset[str], now: float) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            stats = self._peers[peer] = _PeerStats()
        stats.connected = True
        self._set_ips(peer, stats, ips)
        self._cache.pop(peer, None)

    def remove_peer(self, peer: PeerId, now: float) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        self._set_ips(peer, stats, frozenset())
        self._cache.pop(peer, None)
        if self.score(peer) > 0:  # nothing to remember: a positive score is not carried over
            del self._peers[peer]
            return
        # Keep a negative score so that reconnecting does not launder it (spec: retain_score).
        for tstats in stats.topics.values():
            if tstats.in_mesh:
                self._apply_mesh_failure(tstats)
            tstats.in_mesh = False
            tstats.mesh_message_deliveries_active = False
        stats.connected = False
        stats.expire = now + self.params.retain_score

    def _set_ips(self, peer: PeerId, stats: _PeerStats, ips: frozenset[str]) -> None:
        for ip in stats.ips - ips:
            holders = self._peers_by_ip.get(ip)
            if holders is not None:
                holders.discard(peer)
                if not holders:
                    del self._peers_by_ip[ip]
                for other in holders or ():
                    self._cache.pop(other, None)
        for ip in ips - stats.ips:
            self._peers_by_ip[ip].add(peer)
            for other in self._peers_by_ip[ip]:
                self._cache.pop(other, None)
        stats.ips = ips

    # -- events from the router ------------------------------------------------------
    def graft(self, peer: PeerId, topic: str, now: float) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        t = stats.topic(topic)
        t.in_mesh = True
        t.graft_time = now
        t.mesh_time = 0.0
        t.mesh_message_deliveries_active = False
        self._cache.pop(peer, None)

    def prune(self, peer: PeerId, topic: str) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        t = stats.topic(topic)
        self._apply_mesh_failure(t)
        t.in_mesh = False
        t.mesh_message_deliveries_active = False  # the deficit now lives on in P3b only
        self._cache.pop(peer, None)

    def _apply_mesh_failure(self, t: _TopicStats) -> None:
        threshold = self.params.topic.mesh_message_deliveries_threshold
        if t.mesh_message_deliveries_active and t.mesh_message_deliveries < threshold:
            deficit = threshold - t.mesh_message_deliveries
            t.mesh_failure_penalty += deficit * deficit

    def first_delivery(self, peer: PeerId, topic: str) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        tp = self.params.topic
        t = stats.topic(topic)
        t.first_message_deliveries = min(t.first_message_deliveries + 1, tp.first_message_deliveries_cap)
        if t.in_mesh and tp.mesh_message_deliveries_weight:
            t.mesh_message_deliveries = min(t.mesh_message_deliveries + 1, tp.mesh_message_deliveries_cap)
        self._cache.pop(peer, None)

    def near_first_delivery(self, peer: PeerId, topic: str) -> None:
        """A duplicate that arrived within the mesh delivery window still counts for P3."""
        stats = self._peers.get(peer)
        tp = self.params.topic
        if stats is None or not tp.mesh_message_deliveries_weight:
            return
        t = stats.topic(topic)
        if t.in_mesh:
            t.mesh_message_deliveries = min(t.mesh_message_deliveries + 1, tp.mesh_message_deliveries_cap)
            self._cache.pop(peer, None)

    def invalid_delivery(self, peer: PeerId, topic: str) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        stats.topic(topic).invalid_message_deliveries += 1
        self._cache.pop(peer, None)

    def add_penalty(self, peer: PeerId, count: float = 1.0) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        stats.behaviour_penalty += count
        self._cache.pop(peer, None)

    def set_app_score(self, peer: PeerId, value: float) -> None:
        stats = self._peers.get(peer)
        if stats is not None:
            stats.app_score = value
            self._cache.pop(peer, None)

    # -- the score -----------------------------------------------------------------------
    def score(self, peer: PeerId) -> float:
        cached = self._cache.get(peer)
        if cached is not None:
            return cached
        stats = self._peers.get(peer)
        value = 0.0 if stats is None else self._compute(stats)
        self._cache[peer] = value
        return value

    def _compute(self, stats: _PeerStats) -> float:
        p = self.params
        tp = p.topic
        topic_total = 0.0
        for t in stats.topics.values():
            s = 0.0
            if t.in_mesh:
                p1 = min(t.mesh_time / tp.time_in_mesh_quantum, tp.time_in_mesh_cap)
                s += p1 * tp.time_in_mesh_weight
            s += t.first_message_deliveries * tp.first_message_deliveries_weight
            if t.mesh_message_deliveries_active and t.mesh_message_deliveries < tp.mesh_message_deliveries_threshold:
                deficit = tp.mesh_message_deliveries_threshold - t.mesh_message_deliveries
                s += deficit * deficit * tp.mesh_message_deliveries_weight
            s += t.mesh_failure_penalty * tp.mesh_failure_penalty_weight
            s += t.invalid_message_deliveries * t.invalid_message_deliveries * tp.invalid_message_deliveries_weight
            topic_total += s * tp.topic_weight
        if p.topic_score_cap > 0:
            topic_total = min(topic_total, p.topic_score_cap)
        score = topic_total + stats.app_score * p.app_specific_weight
        for ip in stats.ips:
            surplus = len(self._peers_by_ip.get(ip, ())) - p.ip_colocation_factor_threshold
            if surplus > 0:
                score += surplus * surplus * p.ip_colocation_factor_weight
        excess = stats.behaviour_penalty - p.behaviour_penalty_threshold
        if excess > 0:
            score += excess * excess * p.behaviour_penalty_weight
        return score

    # -- time -------------------------------------------------------------------------------
    def refresh(self, now: float) -> None:
        """Called every heartbeat: advance time in mesh, decay counters every decay_interval."""
        p = self.params
        tp = p.topic
        if self._last_decay is None:
            self._last_decay = now
        decay = now - self._last_decay >= p.decay_interval
        if decay:
            self._last_decay = now
        for peer in list(self._peers):
            stats = self._peers[peer]
            if not stats.connected and now >= stats.expire:
                del self._peers[peer]
                continue
            for t in stats.topics.values():
                if t.in_mesh:
                    t.mesh_time = now - t.graft_time
                    if t.mesh_time > tp.mesh_message_deliveries_activation:
                        t.mesh_message_deliveries_active = True
                if decay:
                    t.first_message_deliveries = _decayed(
                        t.first_message_deliveries, tp.first_message_deliveries_decay, p.decay_to_zero)
                    t.mesh_message_deliveries = _decayed(
                        t.mesh_message_deliveries, tp.mesh_message_deliveries_decay, p.decay_to_zero)
                    t.mesh_failure_penalty = _decayed(
                        t.mesh_failure_penalty, tp.mesh_failure_penalty_decay, p.decay_to_zero)
                    t.invalid_message_deliveries = _decayed(
                        t.invalid_message_deliveries, tp.invalid_message_deliveries_decay, p.decay_to_zero)
            if decay:
                stats.behaviour_penalty = _decayed(
                    stats.behaviour_penalty, p.behaviour_penalty_decay, p.decay_to_zero)
        self._cache.clear()

    def snapshot(self) -> dict[PeerId, float]:
        return {peer: self.score(peer) for peer, s in self._peers.items() if s.connected}


def _decayed(value: float, factor: float, to_zero: float) -> float:
    value *= factor
    return 0.0 if value < to_zero else value
