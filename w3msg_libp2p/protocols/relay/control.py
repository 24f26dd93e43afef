"""Gossipsub control messages (GRAFT, PRUNE, IHAVE, IWANT, IDONTWANT) handled against the router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .rpc import RPC, IWant

if TYPE_CHECKING:
    from .router import GossipRouter, PeerId, PeerState

# Our own IHAVE/IWANT lists are capped so an RPC stays well under the 150 KiB frames nim-libp2p accepts.
MAX_IDS_PER_CONTROL = 1500


def handle_control(router: GossipRouter, peer: PeerId, state: PeerState, rpc: RPC, now: float) -> None:
    _handle_graft(router, peer, state, rpc, now)
    _handle_prune(router, peer, rpc, now)
    _handle_ihave(router, peer, state, rpc, now)
    _handle_iwant(router, peer, rpc)
    if rpc.idontwant:  # gossipsub v1.2; we speak v1.1 and only count them
        router.drop("idontwant_ignored", len(rpc.idontwant))


def _handle_graft(router: GossipRouter, peer: PeerId, state: PeerState, rpc: RPC, now: float) -> None:
    params = router.params
    for graft in rpc.graft:
        topic = graft.topic
        mesh = router.mesh.get(topic)
        if mesh is None:
            router.drop("graft_unknown_topic")  # spam hardening, as go-libp2p: no reply
            continue
        if peer in mesh:
            continue
        expiry = router.backoff.get(topic, {}).get(peer, 0.0)
        if expiry > now:
            router.score.add_penalty(peer, 1)
            # GRAFT flood: grafting right after being pruned costs an extra penalty.
            if now < expiry - params.prune_backoff + params.graft_flood_threshold:
                router.score.add_penalty(peer, 1)
            router.prune_peer_refuse(peer, topic, now)
            continue
        if router.score.score(peer) < 0 or (len(mesh) >= params.d_high and not state.outbound):
            router.prune_peer_refuse(peer, topic, now)
            continue
        mesh.add(peer)
        router.score.graft(peer, topic, now)


def _handle_prune(router: GossipRouter, peer: PeerId, rpc: RPC, now: float) -> None:
    for prune in rpc.prune:
        mesh = router.mesh.get(prune.topic)
        if mesh is not None and peer in mesh:
            mesh.discard(peer)
            router.score.prune(peer, prune.topic)
        backoff = prune.backoff if prune.backoff is not None else router.params.prune_backoff
        router.add_backoff(peer, prune.topic, float(backoff), now)
        if prune.peers:
            # Peer exchange needs signed peer records and a dialer; we do not act on it (yet).
            router.drop("prune_px_ignored", len(prune.peers))


def _handle_ihave(router: GossipRouter, peer: PeerId, state: PeerState, rpc: RPC, now: float) -> None:
    if not rpc.ihave:
        return
    params = router.params
    if router.score.score(peer) < params.score.gossip_threshold:
        router.drop("ihave_below_gossip_threshold", len(rpc.ihave))
        return
    state.ihave_received += 1
    if state.ihave_received > params.max_ihave_messages:
        router.drop("ihave_flood", len(rpc.ihave))
        return
    budget = min(params.max_ihave_length, MAX_IDS_PER_CONTROL) - state.iwant_asked
    unseen: dict[bytes, None] = {}  # ordered and de-duplicated in O(1) per id
    for ihave in rpc.ihave:
        if ihave.topic in router.mesh:
            unseen.update((msg_id, None) for msg_id in ihave.message_ids if msg_id not in router.seen)
    if not unseen or budget <= 0:
        return
    wanted = list(unseen)
    router.rng.shuffle(wanted)
    wanted = wanted[:budget]
    state.iwant_asked += len(wanted)
    # Track one promise per IWANT, as the spec suggests: a peer that never delivers is penalised.
    router.promises.setdefault(router.rng.choice(wanted), {})[peer] = now + params.iwant_followup_time
    router.control_for(peer).outbox.control.iwant.append(IWant(tuple(wanted)))


def _handle_iwant(router: GossipRouter, peer: PeerId, rpc: RPC) -> None:
    if not rpc.iwant:
        return
    if router.score.score(peer) < router.params.score.gossip_threshold:
        router.drop("iwant_below_gossip_threshold", len(rpc.iwant))
        return
    for iwant in rpc.iwant:
        for msg_id in iwant.message_ids:
            cached = router.mcache.get_for_peer(msg_id, peer, router.params.gossip_retransmission)
            if cached is None:
                router.drop("iwant_unavailable")
            elif router.queue_field(peer, cached.publish_field):
                router.stats.messages_forwarded += 1
