"""The gossipsub router core, driven through the in-memory RouterNet (real codec, no sockets)."""

from __future__ import annotations

import itertools

import pytest

from w3msg_libp2p.core.errors import PublishError
from w3msg_libp2p.protocols.relay import codec
from w3msg_libp2p.protocols.relay.events import DisconnectPeer
from w3msg_libp2p.protocols.relay.params import MESHSUB_V10, GossipParams
from w3msg_libp2p.protocols.relay.router import waku_message_id
from w3msg_libp2p.protocols.relay.rpc import RPC, Graft, IHave, IWant, PubMessage, ValidationResult, Verdict
from w3msg_libp2p.testing import RouterNet

TOPIC = "/waku/2/rs/1/0"


def full_mesh(n: int, seed: int = 1, params: GossipParams | None = None) -> RouterNet:
    net = RouterNet(params=params, seed=seed)
    for i in range(n):
        net.add(f"n{i}")
    for i, j in itertools.combinations(range(n), 2):
        net.connect(f"n{i}", f"n{j}")
    net.subscribe_all(TOPIC)
    net.pump()
    net.heartbeat(3)
    return net


def line(n: int) -> RouterNet:
    net = RouterNet()
    for i in range(n):
        net.add(f"n{i}")
    for i in range(n - 1):
        net.connect(f"n{i}", f"n{i + 1}")
    net.subscribe_all(TOPIC)
    net.pump()
    return net


def test_mesh_degrees_stay_within_bounds() -> None:
    net = full_mesh(20)
    for _ in range(5):
        net.clock.advance(net.params.heartbeat_interval)
        for router in net.routers.values():
            # right after its own maintenance, a router's mesh is within bounds; PRUNEs from
            # others may thin it until its next heartbeat, as the spec allows
            router.heartbeat(net.clock.now)
            p = router.params
            assert p.d_low <= len(router.mesh[TOPIC]) <= p.d_high
        net.pump()
    # once the control messages are through, meshes are symmetric: if a has b, b has a
    for name, router in net.routers.items():
        for peer in router.mesh[TOPIC]:
            assert name in net.routers[peer].mesh[TOPIC]


def test_every_message_reaches_every_node_once() -> None:
    net = full_mesh(20)
    ids = [net.routers[f"n{i % 20}"].publish(TOPIC, f"m{i}".encode(), net.clock.now) for i in range(50)]
    net.pump()
    for name, delivered in net.delivered.items():
        assert sorted(d.msg_id for d in delivered) == sorted(ids), name
    assert sum(r.stats.duplicates for r in net.routers.values()) > 0  # mesh redundancy is real


def test_line_forwards_hop_by_hop_with_message_id_sha256() -> None:
    net = line(5)
    msg_id = net.routers["n0"].publish(TOPIC, b"hello", net.clock.now)
    net.pump()
    assert msg_id == waku_message_id(PubMessage(TOPIC, b"hello"))
    assert [len(net.delivered[f"n{i}"]) for i in range(5)] == [1] * 5
    assert net.delivered["n4"][0].received_from == "n3"
    assert net.delivered["n0"][0].received_from is None


def test_publish_errors_are_explicit() -> None:
    net = line(2)
    r = net.routers["n0"]
    with pytest.raises(PublishError, match="no peers"):
        r.publish("/waku/2/rs/1/5", b"x", net.clock.now)
    r.publish(TOPIC, b"once", net.clock.now)
    with pytest.raises(PublishError, match="duplicate"):
        r.publish(TOPIC, b"once", net.clock.now)
    with pytest.raises(PublishError, match="exceeds"):
        r.publish(TOPIC, bytes(r.params.max_message_size + 1), net.clock.now)


def test_validator_reject_penalises_and_ignore_does_not() -> None:
    def validator(topic: str, data: bytes) -> Verdict:
        if data.startswith(b"bad"):
            return Verdict(ValidationResult.REJECT, "bad")
        if data.startswith(b"meh"):
            return Verdict(ValidationResult.IGNORE, "meh")
        return Verdict(ValidationResult.ACCEPT)

    net = RouterNet()
    net.add("a")
    net.add("b", validator=validator)
    net.add("c", validator=validator)
    net.connect("a", "b")
    net.connect("b", "c")
    net.subscribe_all(TOPIC)
    net.pump()
    a = net.routers["a"]
    a.publish(TOPIC, b"meh1", net.clock.now)
    net.pump()
    assert net.routers["b"].score.score("a") == 0
    a.publish(TOPIC, b"bad1", net.clock.now)
    net.pump()
    b = net.routers["b"]
    assert b.stats.drops["rejected:bad"] == 1 and b.stats.drops["ignored:meh"] == 1
    assert b.score.score("a") < 0
    assert net.delivered["c"] == []  # neither was forwarded
    # a rejected message is not delivered locally either
    assert all(not d.data.startswith((b"bad", b"meh")) for d in net.delivered["b"])


def test_invalid_flood_graylists_then_disconnects() -> None:
    net = RouterNet()
    net.add("spammer")
    net.add("victim", validator=lambda t, d: Verdict(ValidationResult.REJECT, "spam"))
    net.connect("spammer", "victim")
    net.subscribe_all(TOPIC)
    net.pump()
    for i in range(15):
        net.routers["spammer"].publish(TOPIC, f"s{i}".encode(), net.clock.now)
    net.pump()
    victim = net.routers["victim"]
    assert victim.score.score("spammer") < victim.params.score.graylist_threshold
    net.routers["spammer"].publish(TOPIC, b"after", net.clock.now)
    net.pump()
    assert victim.stats.drops["graylisted_peer"] >= 1
    net.heartbeat()
    assert any(isinstance(e, DisconnectPeer) and e.peer == "spammer" for e in net.events["victim"])


def test_signed_messages_are_rejected_under_strict_no_sign() -> None:
    net = line(2)
    signed = codec.publish_field(PubMessage(TOPIC, b"x", from_peer=b"\x00\x01", seqno=b"\x00" * 8))
    net.routers["n1"].handle_rpc("n0", codec.decode_rpc(signed), net.clock.now)
    assert net.routers["n1"].stats.drops["rejected:signed_message_under_strict_no_sign"] == 1
    assert net.routers["n1"].score.score("n0") < 0


def test_lost_message_is_recovered_through_ihave_iwant() -> None:
    # mesh degree 1: the line n0-n1-n2 is the whole mesh, the extra link n0-n2 carries gossip only
    params = GossipParams(d=1, d_low=1, d_high=1, d_score=1, d_out=0, flood_publish=False)
    net = RouterNet(params=params)
    for name in ("n0", "n1", "n2"):
        net.add(name)
    net.connect("n0", "n1")
    net.connect("n1", "n2")
    net.subscribe_all(TOPIC)
    net.pump()
    net.connect("n0", "n2")
    net.pump()
    assert net.routers["n0"].mesh[TOPIC] == {"n1"} and net.routers["n2"].mesh[TOPIC] == {"n1"}
    # n1 -> n2 loses every RPC that carries messages
    net.tamper[("n1", "n2")] = lambda body: None if codec.decode_rpc(body).messages else body
    net.routers["n0"].publish(TOPIC, b"lost-then-found", net.clock.now)
    net.pump()
    assert net.delivered["n2"] == []
    net.heartbeat()  # n0 gossips IHAVE to n2, n2 asks IWANT, n0 answers
    assert [d.data for d in net.delivered["n2"]] == [b"lost-then-found"]
    assert net.delivered["n2"][0].received_from == "n0"


def test_ihave_for_unknown_message_triggers_iwant_and_broken_promise_penalty() -> None:
    net = line(2)
    n1 = net.routers["n1"]
    n1.handle_rpc("n0", RPC(ihave=(IHave(TOPIC, (b"x" * 32,)),)), net.clock.now)
    assert n1.promises  # we asked and expect delivery
    net.pump()
    before = n1.score.score("n0")
    net.clock.advance(n1.params.iwant_followup_time + 1)
    n1.heartbeat(net.clock.now)
    # n0 never had the message: a broken promise counts as a behaviour penalty
    assert n1.score.score("n0") < before


def test_ihave_flood_is_capped() -> None:
    net = line(2)
    n1 = net.routers["n1"]
    for i in range(n1.params.max_ihave_messages + 5):
        n1.handle_rpc("n0", RPC(ihave=(IHave(TOPIC, (bytes([i]) * 32,)),)), net.clock.now)
    assert n1.stats.drops["ihave_flood"] == 5


def test_iwant_is_answered_from_the_cache_a_bounded_number_of_times() -> None:
    net = line(2)
    msg_id = net.routers["n0"].publish(TOPIC, b"cached", net.clock.now)
    net.pump()
    n0 = net.routers["n0"]
    sent = n0.stats.messages_forwarded
    for _ in range(n0.params.gossip_retransmission + 2):
        n0.handle_rpc("n1", RPC(iwant=(IWant((msg_id,)),)), net.clock.now)
    assert n0.stats.messages_forwarded - sent == n0.params.gossip_retransmission
    assert n0.stats.drops["iwant_unavailable"] == 2


def test_prune_sets_backoff_and_graft_during_backoff_is_penalised() -> None:
    net = line(2)
    n0, n1 = net.routers["n0"], net.routers["n1"]
    assert "n1" in n0.mesh[TOPIC]
    n0.prune_peer("n1", TOPIC, net.clock.now)
    net.pump()
    assert "n0" not in n1.mesh[TOPIC] and n1.in_backoff("n0", TOPIC, net.clock.now)
    # n0 now GRAFTs during the backoff it asked for: n1 refuses and penalises
    n1.handle_rpc("n0", RPC(graft=(Graft(TOPIC),)), net.clock.now)
    net.pump()
    assert "n0" not in n1.mesh[TOPIC]
    assert n1.score.score("n0") < 0
    # once the backoff is over, n0 tries again, but n1 keeps a negatively scored peer out
    net.heartbeat(int(n0.params.prune_backoff) + 2)
    assert "n0" not in n1.mesh[TOPIC]
    assert n1.score.score("n0") < 0


def test_mesh_reforms_after_backoff_expires() -> None:
    net = line(2)
    n0, n1 = net.routers["n0"], net.routers["n1"]
    n0.prune_peer("n1", TOPIC, net.clock.now)
    net.pump()
    net.heartbeat(3)
    assert "n1" not in n0.mesh[TOPIC] and "n0" not in n1.mesh[TOPIC]
    net.heartbeat(int(n0.params.prune_backoff))
    assert "n1" in n0.mesh[TOPIC] and "n0" in n1.mesh[TOPIC]


def test_graft_for_unknown_topic_is_ignored() -> None:
    net = line(2)
    net.routers["n1"].handle_rpc("n0", RPC(graft=(Graft("/waku/2/rs/1/9"),)), net.clock.now)
    assert net.routers["n1"].stats.drops["graft_unknown_topic"] == 1


def test_oversubscribed_mesh_is_pruned_keeping_outbound_quota() -> None:
    net = RouterNet()
    hub = net.add("hub")
    for i in range(14):
        net.add(f"p{i}")
        # half of them dialed by the hub (outbound for it)
        if i % 2:
            net.connect("hub", f"p{i}")
        else:
            net.connect(f"p{i}", "hub")
    net.subscribe_all(TOPIC)
    net.pump()
    for name, router in net.routers.items():
        if name != "hub":
            router.graft_peer("hub", TOPIC, net.clock.now)
    net.pump()
    net.heartbeat()
    mesh = hub.mesh[TOPIC]
    assert hub.params.d_low <= len(mesh) <= hub.params.d_high
    assert sum(1 for p in mesh if hub.peers[p].outbound) >= hub.params.d_out


def test_unsubscribe_leaves_the_mesh_and_stops_deliveries() -> None:
    net = line(3)
    net.routers["n2"].unsubscribe(TOPIC, net.clock.now)
    net.pump()
    assert "n2" not in net.routers["n1"].mesh[TOPIC]
    assert "n2" not in net.routers["n1"].topics.get(TOPIC, set())
    net.routers["n0"].publish(TOPIC, b"after-unsub", net.clock.now)
    net.pump()
    assert net.delivered["n2"] == []


def test_fanout_when_not_subscribed_and_not_flooding() -> None:
    params = GossipParams(flood_publish=False)
    net = RouterNet(params=params)
    for name in ("pub", "a", "b"):
        net.add(name)
    net.connect("pub", "a")
    net.connect("pub", "b")
    net.subscribe_all(TOPIC, ["a", "b"])
    net.pump()
    pub = net.routers["pub"]
    pub.publish(TOPIC, b"fan", net.clock.now)
    net.pump()
    assert pub.fanout[TOPIC] == {"a", "b"}
    assert len(net.delivered["a"]) == 1 and len(net.delivered["b"]) == 1
    net.heartbeat(int(params.fanout_ttl) + 2)
    assert TOPIC not in pub.fanout


def test_meshsub_v10_peers_get_prunes_without_backoff() -> None:
    net = RouterNet()
    net.add("a")
    net.add("old")
    net.connect("a", "old", protocol=MESHSUB_V10)
    net.subscribe_all(TOPIC)
    net.pump()
    a = net.routers["a"]
    a.prune_peer("old", TOPIC, net.clock.now)
    (body,) = a.drain("old")
    (prune,) = codec.decode_rpc(body).prune
    assert prune.backoff is None


def test_full_send_queue_drops_are_counted() -> None:
    params = GossipParams(max_peer_queue_bytes=5000)
    net = RouterNet(params=params)
    net.add("a")
    net.add("b")
    net.connect("a", "b")
    net.subscribe_all(TOPIC)
    net.pump()
    a = net.routers["a"]
    sent = 0
    with pytest.raises(PublishError, match="full"):
        for i in range(20):
            a.publish(TOPIC, bytes([i]) * 1000, net.clock.now)
            sent += 1
    assert a.stats.drops["peer_queue_full"] == 1
    assert 0 < sent < 20
    net.pump()
    assert len(net.delivered["b"]) == sent  # what was accepted was delivered


def test_seen_cache_expires_so_ids_can_recur_after_ttl() -> None:
    net = line(2)
    net.routers["n0"].publish(TOPIC, b"again", net.clock.now)
    net.pump()
    net.heartbeat(int(net.params.seen_ttl) + 2, interval=1.0)
    net.routers["n0"].publish(TOPIC, b"again", net.clock.now)
    net.pump()
    assert len(net.delivered["n1"]) == 2


def test_rpc_from_unknown_peer_is_counted() -> None:
    net = line(2)
    net.routers["n0"].handle_rpc("stranger", RPC(), net.clock.now)
    assert net.routers["n0"].stats.drops["rpc_from_unknown_peer"] == 1


def test_deliveries_carry_the_validators_parse() -> None:
    net = RouterNet()
    net.add("a")
    net.add("b", validator=lambda t, d: Verdict(ValidationResult.ACCEPT, parsed=d.upper()))
    net.connect("a", "b")
    net.subscribe_all(TOPIC)
    net.pump()
    net.routers["a"].publish(TOPIC, b"abc", net.clock.now)
    net.pump()
    assert net.delivered["b"][0].parsed == b"ABC"


def test_resync_repeats_subscriptions_and_grafts() -> None:
    net = line(2)
    n0 = net.routers["n0"]
    assert "n1" in n0.mesh[TOPIC]
    n0.resync_peer("n1")
    (body,) = n0.drain("n1")
    rpc = codec.decode_rpc(body)
    assert [(s.subscribe, s.topic) for s in rpc.subscriptions] == [(True, TOPIC)]
    assert [g.topic for g in rpc.graft] == [TOPIC]
