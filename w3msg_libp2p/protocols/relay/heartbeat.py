"""The once-a-second heartbeat: mesh and fanout maintenance, gossip emission, bookkeeping."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from .control import MAX_IDS_PER_CONTROL
from .events import DisconnectPeer
from .rpc import IHave

if TYPE_CHECKING:
    from .router import GossipRouter, PeerId


def run_heartbeat(router: GossipRouter, now: float) -> None:
    router.heartbeat_ticks += 1
    router.score.refresh(now)
    _apply_broken_promises(router, now)
    for state in router.peers.values():
        state.ihave_received = 0
        state.iwant_asked = 0
    for topic in list(router.mesh):
        _maintain_mesh(router, topic, now)
    _maintain_fanout(router, now)
    _emit_gossip(router)
    _expire_backoff(router, now)
    _disconnect_graylisted(router)
    router.mcache.shift()
    router.seen.expire(now)


def _apply_broken_promises(router: GossipRouter, now: float) -> None:
    for msg_id in list(router.promises):
        peers = router.promises[msg_id]
        for peer, deadline in list(peers.items()):
            if deadline <= now:
                router.score.add_penalty(peer, 1)
                del peers[peer]
        if not peers:
            del router.promises[msg_id]


def _maintain_mesh(router: GossipRouter, topic: str, now: float) -> None:
    p = router.params
    mesh = router.mesh[topic]
    score = router.score.score
    for peer in [peer for peer in mesh if score(peer) < 0]:
        router.prune_peer(peer, topic, now)
    if len(mesh) < p.d_low:
        for peer in router.pick_mesh_candidates(topic, p.d - len(mesh), exclude=mesh, now=now):
            router.graft_peer(peer, topic, now)
    if len(mesh) > p.d_high:
        _shrink_mesh(router, topic, now)
    outbound = sum(1 for peer in mesh if router.peers[peer].outbound)
    if outbound < p.d_out:
        extra = [q for q in router.pick_mesh_candidates(topic, len(router.peers), exclude=mesh, now=now)
                 if router.peers[q].outbound]
        for peer in extra[: p.d_out - outbound]:
            router.graft_peer(peer, topic, now)
    if router.heartbeat_ticks % p.opportunistic_graft_ticks == 0 and len(mesh) > 1:
        median = statistics.median(score(peer) for peer in mesh)
        if median < p.score.opportunistic_graft_threshold:
            candidates = router.pick_mesh_candidates(topic, len(router.peers), exclude=mesh, now=now)
            better = [q for q in candidates if score(q) > median]
            for peer in better[: p.opportunistic_graft_peers]:
                router.graft_peer(peer, topic, now)


def _shrink_mesh(router: GossipRouter, topic: str, now: float) -> None:
    """Keep the d_score best-scoring peers, fill to d at random, keep d_out outbound ones."""
    p = router.params
    mesh = router.mesh[topic]
    ranked = sorted(mesh)  # sets iterate in hash order: sort so a seeded RNG is reproducible
    router.rng.shuffle(ranked)  # random tie-break
    ranked.sort(key=router.score.score, reverse=True)
    keep = ranked[: p.d_score]
    rest = ranked[p.d_score :]
    router.rng.shuffle(rest)
    keep += rest[: p.d - len(keep)]
    outbound_kept = sum(1 for q in keep if router.peers[q].outbound)
    if outbound_kept < p.d_out:
        spare_outbound = [q for q in ranked if q not in keep and router.peers[q].outbound]
        inbound_kept = [q for q in reversed(keep) if not router.peers[q].outbound]
        for new, old in zip(spare_outbound[: p.d_out - outbound_kept], inbound_kept, strict=False):
            keep[keep.index(old)] = new
    for peer in set(mesh) - set(keep):
        router.prune_peer(peer, topic, now)


def _maintain_fanout(router: GossipRouter, now: float) -> None:
    p = router.params
    threshold = p.score.publish_threshold
    for topic in list(router.fanout):
        if now - router.fanout_last_publish.get(topic, 0.0) > p.fanout_ttl:
            del router.fanout[topic]
            router.fanout_last_publish.pop(topic, None)
            continue
        peers = router.fanout[topic]
        subscribed = router.topics.get(topic, set())
        for peer in [q for q in peers if q not in subscribed or router.score.score(q) < threshold]:
            peers.discard(peer)
        if len(peers) < p.d:
            peers.update(router.pick_mesh_candidates(topic, p.d - len(peers), exclude=peers, now=now))


def _emit_gossip(router: GossipRouter) -> None:
    p = router.params
    by_topic = router.mcache.gossip_ids_by_topic()
    for topic, ids in by_topic.items():
        exclude: set[PeerId] = router.mesh.get(topic) or router.fanout.get(topic) or set()
        if topic not in router.mesh and topic not in router.fanout:
            continue
        eligible = [
            q for q in sorted(router.topics.get(topic, ()))
            if q not in exclude and router.score.score(q) >= p.score.gossip_threshold
        ]
        count = max(p.d_lazy, int(p.gossip_factor * len(eligible)))
        router.rng.shuffle(eligible)
        for peer in eligible[:count]:
            chosen = ids if len(ids) <= MAX_IDS_PER_CONTROL else router.rng.sample(ids, MAX_IDS_PER_CONTROL)
            router.control_for(peer).outbox.control.ihave.append(IHave(topic, tuple(chosen)))


def _expire_backoff(router: GossipRouter, now: float) -> None:
    for topic in list(router.backoff):
        per_topic = router.backoff[topic]
        for peer in [q for q, expiry in per_topic.items() if expiry <= now]:
            del per_topic[peer]
        if not per_topic:
            del router.backoff[topic]


def _disconnect_graylisted(router: GossipRouter) -> None:
    threshold = router.params.score.graylist_threshold
    for peer in list(router.peers):
        if router.score.score(peer) < threshold:
            router.emit(DisconnectPeer(peer, "score below graylist threshold"))
