from __future__ import annotations

import random

import pytest

from w3msg_libp2p.core.enr import Enr, RelayShards, build_waku_enr
from w3msg_libp2p.core.errors import RemoteProtocolError
from w3msg_libp2p.protocols.peer_exchange.codec import decode_response, encode_query, parse_enrs
from w3msg_libp2p.protocols.peer_exchange.rpc import PeerExchangeQuery
from w3msg_libp2p.protocols.peer_exchange.server import PeerExchangeServer


def record(key: int, seq: int = 1, cluster: int = 1, port: int = 60000) -> Enr:
    return build_waku_enr(key.to_bytes(32, "big"), seq, ip="127.0.0.1", tcp=port,
                          shards=RelayShards.of(cluster, [0]))


OWN = record(1)


def server(**overrides: object) -> PeerExchangeServer:
    options: dict[str, object] = {"max_peers_per_response": 50, "cluster_id": 1, "rng": random.Random(7),
                                  "own_peer_id": OWN.peer_id}
    options.update(overrides)
    return PeerExchangeServer(**options)  # type: ignore[arg-type]


def test_learn_keeps_the_newest_record_per_peer() -> None:
    s = server()
    assert s.learn(record(2, seq=1), now=0)
    assert s.learn(record(2, seq=5, port=1), now=1)
    assert not s.learn(record(2, seq=3), now=2)
    assert [(e.seq, e.tcp) for e in s.known(now=2)] == [(5, 1)]
    assert s.stats.learned == 2 and s.stats.not_learned == {"older_seq": 1}


def test_learn_refuses_our_own_record_other_clusters_and_undialable_peers() -> None:
    s = server()
    assert not s.learn(OWN, now=0)
    assert not s.learn(record(3, cluster=16), now=0)
    assert not s.learn(build_waku_enr((4).to_bytes(32, "big"), 1), now=0)  # no address
    assert not s.learn(build_waku_enr((5).to_bytes(32, "big"), 1, ip="10.0.0.1", tcp=1,
                                      extra={"rs": b"\x00"}), now=0)
    assert s.known(now=0) == []
    assert s.stats.not_learned == {"own_record": 1, "cluster_mismatch": 1, "no_address": 1, "malformed_field": 1}
    # without a cluster of our own, any cluster is fine
    assert server(cluster_id=None).learn(record(3, cluster=16), now=0)


def test_cache_is_bounded_and_records_expire() -> None:
    s = server(cache_size=3, max_age=100.0)
    for key in range(10, 15):
        s.learn(record(key), now=key)
    assert [e.peer_id for e in s.known(now=20)] == [record(k).peer_id for k in (12, 13, 14)]
    assert s.stats.evicted == 2
    s.learn(record(12), now=90)  # confirmed again: lives on
    assert [e.peer_id for e in s.known(now=113.5)] == [record(14).peer_id, record(12).peer_id]
    assert s.known(now=1000) == []


def test_response_size_and_own_record() -> None:
    s = server(max_peers_per_response=4)
    peers = [record(k) for k in range(20, 30)]
    for p in peers:
        s.learn(p, now=0)
    requester = peers[0].peer_id
    five = s.select(5, requester, OWN, now=0)
    assert len(five) == 4  # capped by max_peers_per_response
    assert five[-1] == OWN and requester not in [e.peer_id for e in five]
    assert len({e.peer_id for e in five}) == 4
    one = s.select(1, requester, OWN, now=0)
    assert len(one) == 1 and one[0] in peers[1:]  # a single slot goes to a cached peer
    assert s.select(0, requester, OWN, now=0) == []
    assert s.select(3, requester, None, now=0)[-1] != OWN  # no own record (ed25519 node)


def test_empty_cache_offers_our_own_record() -> None:
    s = server()
    assert s.select(1, "someone", OWN, now=0) == [OWN]
    assert s.select(10, "someone", None, now=0) == []


def test_samples_are_random_and_reproducible_under_a_seed() -> None:
    draws = []
    for _ in range(2):
        s = server(max_peers_per_response=3, rng=random.Random(1))
        for k in range(40, 60):
            s.learn(record(k), now=0)
        draws.append([[e.peer_id for e in s.select(3, "x", None, now=0)] for _ in range(5)])
    assert draws[0] == draws[1]
    assert len({tuple(d) for d in draws[0]}) > 1


def test_handle_answers_with_verifiable_records() -> None:
    s = server()
    s.learn(record(70), now=0)
    response = decode_response(s.handle("requester", encode_query(PeerExchangeQuery(5)), OWN, now=1))
    assert response.status_code == 200
    enrs, skipped = parse_enrs(response.enrs)
    assert not skipped
    assert {e.peer_id for e in enrs} == {record(70).peer_id, OWN.peer_id}
    assert s.stats.as_dict() == {"requests": 1, "responses": 1, "enrs_sent": 2, "learned": 1,
                                      "not_learned": {}, "evicted": 0}


def test_handle_refuses_malformed_requests() -> None:
    s = server()
    with pytest.raises(RemoteProtocolError) as info:
        s.handle("requester", b"\xff\xff", OWN, now=0)
    assert info.value.status_code == 400
    assert s.stats.requests == 1 and s.stats.responses == 0
