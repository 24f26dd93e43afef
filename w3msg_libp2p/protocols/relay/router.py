"""Gossipsub v1.1 router: a sans-I/O state machine.

Inputs: ``add_peer``/``remove_peer``, ``handle_rpc(peer, rpc, now)``, ``publish``, ``subscribe``,
``heartbeat(now)``. Outputs: per-peer outboxes (``drain(peer)``; ``take_dirty()`` says which have
something) and ``take_events()`` (deliveries, peers to disconnect). Every message that is not
forwarded or delivered is counted in ``stats.drops`` with its reason.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.errors import ConfigError, PublishError
from ...core.peer_keys import peer_id_to_base58
from . import codec
from .caches import MessageCache, SeenCache
from .control import handle_control
from .events import Deliver, RouterEvent
from .heartbeat import run_heartbeat
from .outbox import Outbox
from .params import V11_PROTOCOLS, GossipParams
from .rpc import (
    ACCEPTED,
    RPC,
    Graft,
    Prune,
    PubMessage,
    SubOpt,
    ValidationResult,
    Verdict,
)
from .score import PeerScore
from .signing import Author, SignaturePolicy, signature_problem

PeerId = str
Validator = Callable[[str, bytes], Verdict]
MessageIdFn = Callable[[PubMessage], bytes]
AUTHOR_NAME_CACHE = 10_000


def waku_message_id(msg: PubMessage) -> bytes:
    """Waku relay message id: sha256 of the serialized WakuMessage (the pubsub data)."""
    return hashlib.sha256(msg.data).digest()


@dataclass(slots=True)
class PeerState:
    protocol: str
    outbound: bool
    outbox: Outbox
    topics: set[str] = field(default_factory=set)
    ihave_received: int = 0  # IHAVE messages this heartbeat
    iwant_asked: int = 0  # ids we asked this peer for this heartbeat

    @property
    def v11(self) -> bool:
        return self.protocol in V11_PROTOCOLS


@dataclass(slots=True)
class RouterStats:
    rpcs_received: int = 0
    messages_received: int = 0
    messages_published: int = 0
    messages_delivered: int = 0
    messages_forwarded: int = 0  # one per message per peer it was queued for
    duplicates: int = 0
    drops: Counter[str] = field(default_factory=Counter)


class GossipRouter:
    def __init__(
        self,
        params: GossipParams,
        *,
        rng: random.Random,
        message_id: MessageIdFn = waku_message_id,
        default_validator: Validator | None = None,
        signature_policy: SignaturePolicy = SignaturePolicy.STRICT_NO_SIGN,
        author: Author | None = None,
    ) -> None:
        params.validate()
        if (signature_policy is SignaturePolicy.STRICT_SIGN) != (author is not None):
            raise ConfigError("StrictSign needs an author (our key) to sign with; StrictNoSign must not have one")
        self.params = params
        self.rng = rng
        self.message_id = message_id
        self.signature_policy = signature_policy
        self.author = author
        self.default_validator = default_validator
        self.validators: dict[str, Validator] = {}
        self.peers: dict[PeerId, PeerState] = {}
        self.topics: dict[str, set[PeerId]] = {}  # topic -> peers subscribed to it
        self.subscriptions: set[str] = set()
        self.mesh: dict[str, set[PeerId]] = {}
        self.fanout: dict[str, set[PeerId]] = {}
        self.fanout_last_publish: dict[str, float] = {}
        self.backoff: dict[str, dict[PeerId, float]] = {}
        self.promises: dict[bytes, dict[PeerId, float]] = {}
        self.seen = SeenCache(params.seen_ttl)
        self.mcache = MessageCache(params.history_length, params.history_gossip)
        self.score = PeerScore(params.score)
        self.stats = RouterStats()
        self.heartbeat_ticks = 0
        self._dirty: set[PeerId] = set()
        self._events: list[RouterEvent] = []
        self._author_names: dict[bytes, PeerId] = {}  # binary peer id -> base58, for authors seen

    # -- outputs -----------------------------------------------------------------------
    def take_dirty(self) -> set[PeerId]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def take_events(self) -> list[RouterEvent]:
        events, self._events = self._events, []
        return events

    def drain(self, peer: PeerId) -> list[bytes]:
        """RPC bodies queued for ``peer`` (empty if it is gone)."""
        state = self.peers.get(peer)
        return state.outbox.drain(self.params.batch_bytes) if state else []

    def queued_bytes(self, peer: PeerId) -> int:
        state = self.peers.get(peer)
        return state.outbox.queued_bytes if state else 0

    def drop(self, reason: str, count: int = 1) -> None:
        self.stats.drops[reason] += count

    def _queue(self, peer: PeerId, encoded_field: bytes) -> bool:
        state = self.peers[peer]
        if not state.outbox.push(encoded_field):
            self.drop("peer_queue_full")
            return False
        self._dirty.add(peer)
        return True

    def _control(self, peer: PeerId) -> PeerState:
        state = self.peers[peer]
        self._dirty.add(peer)
        return state

    # -- peers -------------------------------------------------------------------------
    def add_peer(
        self, peer: PeerId, protocol: str, *, outbound: bool, now: float, ips: frozenset[str] = frozenset()
    ) -> None:
        if peer in self.peers:
            return
        self.peers[peer] = PeerState(protocol, outbound, Outbox(self.params.max_peer_queue_bytes))
        self.score.add_peer(peer, ips, now)
        if self.subscriptions:
            subs = [SubOpt(True, t) for t in sorted(self.subscriptions)]
            self._queue(peer, codec.subscriptions_fields(subs))

    def resync_peer(self, peer: PeerId) -> None:
        """Our outbound stream to ``peer`` was replaced: what we told it may be lost with the old
        one, so say it again (our subscriptions, and GRAFT where it is in our mesh)."""
        state = self.peers.get(peer)
        if state is None:
            return
        if self.subscriptions:
            self._queue(peer, codec.subscriptions_fields([SubOpt(True, t) for t in sorted(self.subscriptions)]))
        grafts = state.outbox.control.graft
        grafts.extend(Graft(topic) for topic, mesh in sorted(self.mesh.items()) if peer in mesh)
        self._dirty.add(peer)

    def remove_peer(self, peer: PeerId, now: float) -> None:
        state = self.peers.pop(peer, None)
        if state is None:
            return
        for topic in state.topics:
            self._forget_topic_peer(topic, peer)
        for peers in self.fanout.values():
            peers.discard(peer)
        self.score.remove_peer(peer, now)
        self._dirty.discard(peer)

    def _forget_topic_peer(self, topic: str, peer: PeerId) -> None:
        holders = self.topics.get(topic)
        if holders is not None:
            holders.discard(peer)
            if not holders:
                del self.topics[topic]
        mesh = self.mesh.get(topic)
        if mesh is not None and peer in mesh:
            mesh.discard(peer)
            self.score.prune(peer, topic)
        fanout = self.fanout.get(topic)
        if fanout is not None:
            fanout.discard(peer)

    # -- inbound RPC -------------------------------------------------------------------
    def handle_rpc(self, peer: PeerId, rpc: RPC, now: float) -> None:
        state = self.peers.get(peer)
        if state is None:
            self.drop("rpc_from_unknown_peer")
            return
        self.stats.rpcs_received += 1
        if self.score.score(peer) < self.params.score.graylist_threshold:
            self.drop("graylisted_peer", 1 + len(rpc.messages))
            return
        for sub in rpc.subscriptions:
            self._handle_subscription(peer, state, sub, now)
        for msg in rpc.messages:
            self._handle_message(peer, msg, now)
        if rpc.has_control:
            handle_control(self, peer, state, rpc, now)

    def _handle_subscription(self, peer: PeerId, state: PeerState, sub: SubOpt, now: float) -> None:
        if sub.subscribe:
            state.topics.add(sub.topic)
            self.topics.setdefault(sub.topic, set()).add(peer)
            # Fill a thin mesh at once rather than at the next heartbeat: a node that just
            # joined is usable within one round trip.
            mesh = self.mesh.get(sub.topic)
            if (mesh is not None and len(mesh) < self.params.d_low and peer not in mesh
                    and not self.in_backoff(peer, sub.topic, now) and self.score.score(peer) >= 0):
                self.graft_peer(peer, sub.topic, now)
        elif sub.topic in state.topics:
            state.topics.discard(sub.topic)
            self._forget_topic_peer(sub.topic, peer)

    def _handle_message(self, peer: PeerId, msg: PubMessage, now: float) -> None:
        self.stats.messages_received += 1
        topic = msg.topic
        if topic not in self.subscriptions:
            self.drop("not_subscribed")
            return
        msg_id = self.message_id(msg)
        if not self.seen.add(msg_id, now):
            self.stats.duplicates += 1
            self.score.near_first_delivery(peer, topic)
            return
        self.promises.pop(msg_id, None)
        verdict = self._check_authorship(msg) or self._validate(msg)
        if verdict.result is not ValidationResult.ACCEPT:
            self._refuse(peer, topic, verdict)
            return
        self.score.first_delivery(peer, topic)
        publish_field = codec.publish_field(msg)
        self.mcache.put(msg_id, topic, publish_field)
        self._events.append(Deliver(topic, msg_id, msg.data, peer, verdict.parsed))
        self.stats.messages_delivered += 1
        author = self._author_of(msg)
        for other in self.mesh.get(topic, ()):
            if other != peer and other != author and self._queue(other, publish_field):
                self.stats.messages_forwarded += 1

    def _author_of(self, msg: PubMessage) -> PeerId | None:
        """A signed message's author: never sent its own message back (go-libp2p-pubsub rejects
        that as RejectSelfOrigin and penalises whoever forwarded it)."""
        if msg.from_peer is None:
            return None
        if msg.from_peer not in self._author_names:
            if len(self._author_names) >= AUTHOR_NAME_CACHE:
                self._author_names.clear()
            self._author_names[msg.from_peer] = peer_id_to_base58(msg.from_peer)
        return self._author_names[msg.from_peer]

    def _refuse(self, peer: PeerId, topic: str, verdict: Verdict) -> None:
        if verdict.result is ValidationResult.REJECT:
            self.score.invalid_delivery(peer, topic)
            self.drop(f"rejected:{verdict.reason}")
        else:
            self.drop(f"ignored:{verdict.reason}")

    def _check_authorship(self, msg: PubMessage) -> Verdict | None:
        """A REJECT verdict if ``msg`` breaks our signature policy, else None."""
        if self.signature_policy is SignaturePolicy.STRICT_NO_SIGN:
            if msg.is_anonymous:
                return None
            return Verdict(ValidationResult.REJECT, "signed_message_under_strict_no_sign")
        problem = signature_problem(msg)
        return None if problem is None else Verdict(ValidationResult.REJECT, problem)

    def _validate(self, msg: PubMessage) -> Verdict:
        if len(msg.data) > self.params.max_message_size:
            return Verdict(ValidationResult.REJECT, "message_too_large")
        validator = self.validators.get(msg.topic, self.default_validator)
        return ACCEPTED if validator is None else validator(msg.topic, msg.data)

    # -- local API -----------------------------------------------------------------------
    def subscribe(self, topic: str, now: float) -> None:
        if topic in self.subscriptions:
            return
        self.subscriptions.add(topic)
        sub = codec.subscriptions_fields([SubOpt(True, topic)])
        for peer in self.peers:
            self._queue(peer, sub)
        self._join(topic, now)

    def unsubscribe(self, topic: str, now: float) -> None:
        if topic not in self.subscriptions:
            return
        self.subscriptions.discard(topic)
        sub = codec.subscriptions_fields([SubOpt(False, topic)])
        for peer in self.peers:
            self._queue(peer, sub)
        for peer in self.mesh.pop(topic, set()):
            self.score.prune(peer, topic)
            self._send_prune(peer, topic, self.params.unsubscribe_backoff, now)

    def _join(self, topic: str, now: float) -> None:
        mesh = {p for p in self.fanout.pop(topic, set()) if self.score.score(p) >= 0}
        self.fanout_last_publish.pop(topic, None)
        want = self.params.d - len(mesh)
        if want > 0:
            mesh |= set(self.pick_mesh_candidates(topic, want, exclude=mesh, now=now))
        self.mesh[topic] = set()
        for peer in mesh:
            self.graft_peer(peer, topic, now)

    def graft_peer(self, peer: PeerId, topic: str, now: float) -> None:
        self.mesh.setdefault(topic, set()).add(peer)
        self.score.graft(peer, topic, now)
        self._control(peer).outbox.control.graft.append(Graft(topic))

    def prune_peer(self, peer: PeerId, topic: str, now: float) -> None:
        self.mesh[topic].discard(peer)
        self.score.prune(peer, topic)
        self._send_prune(peer, topic, self.params.prune_backoff, now)

    def _send_prune(self, peer: PeerId, topic: str, backoff: float, now: float) -> None:
        self.add_backoff(peer, topic, backoff, now)
        state = self.peers.get(peer)
        if state is None:
            return
        prune = Prune(topic, backoff=int(backoff)) if state.v11 else Prune(topic)
        self._control(peer).outbox.control.prune.append(prune)

    def prune_peer_refuse(self, peer: PeerId, topic: str, now: float) -> None:
        """Answer a GRAFT we will not accept with a PRUNE (and back off from that peer)."""
        self._send_prune(peer, topic, self.params.prune_backoff, now)

    def add_backoff(self, peer: PeerId, topic: str, seconds: float, now: float) -> None:
        per_topic = self.backoff.setdefault(topic, {})
        per_topic[peer] = max(per_topic.get(peer, 0.0), now + seconds)

    def in_backoff(self, peer: PeerId, topic: str, now: float) -> bool:
        return self.backoff.get(topic, {}).get(peer, 0.0) > now

    def pick_mesh_candidates(self, topic: str, count: int, *, exclude: set[PeerId], now: float) -> list[PeerId]:
        """Up to ``count`` random topic peers eligible for the mesh."""
        candidates = [
            p for p in sorted(self.topics.get(topic, ()))  # sorted: reproducible under a seeded RNG
            if p not in exclude and not self.in_backoff(p, topic, now) and self.score.score(p) >= 0
        ]
        self.rng.shuffle(candidates)
        return candidates[:count]

    def publish_targets(self, topic: str) -> set[PeerId]:
        if self.params.flood_publish:
            threshold = self.params.score.publish_threshold
            return {p for p in self.topics.get(topic, ()) if self.score.score(p) >= threshold}
        if topic in self.mesh:
            return set(self.mesh[topic])
        return set(self.fanout.get(topic, ()))

    def publish(self, topic: str, data: bytes, now: float) -> bytes:
        """Queue a message of our own; returns its id. Raises PublishError if it cannot go out."""
        if len(data) > self.params.max_message_size:
            raise PublishError(f"message of {len(data)} bytes exceeds {self.params.max_message_size}")
        msg = PubMessage(topic, data) if self.author is None else self.author.author(topic, data)
        msg_id = self.message_id(msg)
        if msg_id in self.seen:
            raise PublishError("duplicate: this message was already published or received")
        verdict = self._validate(msg)
        if verdict.result is not ValidationResult.ACCEPT:
            raise PublishError(f"message refused by validation: {verdict.reason}")
        targets = self._ensure_publish_targets(topic, now)
        if not targets:
            raise PublishError(f"no peers to publish to on {topic}")
        publish_field = codec.publish_field(msg)
        sent = 0
        for peer in targets:
            sent += self._queue(peer, publish_field)
        if not sent:
            raise PublishError(f"send queues of all {len(targets)} peers on {topic} are full")
        self.seen.add(msg_id, now)
        self.mcache.put(msg_id, topic, publish_field)
        self.stats.messages_published += 1
        if topic in self.subscriptions:
            self._events.append(Deliver(topic, msg_id, data, None, verdict.parsed))
            self.stats.messages_delivered += 1
        return msg_id

    def _ensure_publish_targets(self, topic: str, now: float) -> set[PeerId]:
        if not self.params.flood_publish and topic not in self.mesh:
            fanout = self.fanout.setdefault(topic, set())
            if not fanout:
                fanout.update(self.pick_mesh_candidates(topic, self.params.d, exclude=set(), now=now))
            self.fanout_last_publish[topic] = now
        targets = self.publish_targets(topic)
        return targets

    def heartbeat(self, now: float) -> None:
        run_heartbeat(self, now)

    def emit(self, event: RouterEvent) -> None:
        self._events.append(event)

    def queue_field(self, peer: PeerId, encoded_field: bytes) -> bool:
        return self._queue(peer, encoded_field)

    def control_for(self, peer: PeerId) -> PeerState:
        return self._control(peer)
