"""The subscription table: limits, expiry driven by a fake ``now``, removal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w3msg_libp2p.protocols.filter.rpc import Refusal, Status
from w3msg_libp2p.protocols.filter.subscriptions import SubscriptionTable

PS = "/waku/2/rs/1/0"
OTHER = "/waku/2/rs/1/1"


def crit(*cts: str, topic: str = PS) -> list[tuple[str, str]]:
    return [(topic, ct) for ct in cts]


def test_add_find_and_remove() -> None:
    t = SubscriptionTable(max_peers=10, max_criteria_per_peer=10, timeout=60)
    t.add("a", crit("/x/1/a/p", "/x/1/b/p"), now=0)
    t.add("b", crit("/x/1/a/p"), now=0)
    assert sorted(t.peers_for(PS, "/x/1/a/p", now=1)) == ["a", "b"]
    assert t.peers_for(PS, "/x/1/b/p", now=1) == ["a"]
    assert t.peers_for(OTHER, "/x/1/a/p", now=1) == []  # the pubsub topic is part of the criterion
    t.remove("a", crit("/x/1/a/p"), now=2)
    assert t.peers_for(PS, "/x/1/a/p", now=2) == ["b"]
    assert t.criteria("a") == frozenset(crit("/x/1/b/p"))
    t.remove("a", crit("/x/1/b/p", "/x/1/never/p"), now=3)  # criteria it does not hold are ignored
    assert "a" not in t  # an emptied subscription is gone
    assert t.criteria_count == 1


def test_remove_without_subscription_is_404() -> None:
    t = SubscriptionTable(10, 10, 60)
    with pytest.raises(Refusal) as info:
        t.remove("nobody", crit("/x/1/a/p"), now=0)
    assert info.value.status == Status.NOT_FOUND


def test_peer_limit_is_503_and_counts_only_live_peers() -> None:
    t = SubscriptionTable(max_peers=2, max_criteria_per_peer=10, timeout=10)
    t.add("a", crit("/x/1/a/p"), now=0)
    t.add("b", crit("/x/1/a/p"), now=5)
    with pytest.raises(Refusal) as info:
        t.add("c", crit("/x/1/a/p"), now=6)
    assert info.value.status == Status.SERVICE_UNAVAILABLE and info.value.reason == "too_many_peers"
    t.add("a", crit("/x/1/more/p"), now=6)  # an existing peer may still add criteria
    t.add("c", crit("/x/1/a/p"), now=15.5)  # b expired at 15: its slot is free again
    assert sorted(t.peer_ids) == ["a", "c"]  # a refreshed itself at 6
    assert "b" not in t


def test_criteria_limit_counts_new_criteria_only() -> None:
    t = SubscriptionTable(max_peers=10, max_criteria_per_peer=3, timeout=60)
    t.add("a", crit("/x/1/a/p", "/x/1/b/p", "/x/1/c/p"), now=0)
    t.add("a", crit("/x/1/a/p", "/x/1/b/p", "/x/1/c/p"), now=1)  # a refresh at the limit is fine
    with pytest.raises(Refusal) as info:
        t.add("a", crit("/x/1/d/p"), now=2)
    assert info.value.status == Status.SERVICE_UNAVAILABLE and info.value.reason == "too_many_criteria"
    assert len(t.criteria("a")) == 3  # nothing of the refused request was applied
    with pytest.raises(Refusal):
        t.add("b", crit("/x/1/1/p", "/x/1/2/p", "/x/1/3/p", "/x/1/4/p"), now=2)
    assert "b" not in t


def test_expiry_when_pings_stop() -> None:
    t = SubscriptionTable(max_peers=10, max_criteria_per_peer=10, timeout=30)
    t.add("a", crit("/x/1/a/p"), now=100)
    t.add("b", crit("/x/1/a/p"), now=100)
    assert t.refresh("a", now=125)  # a pings, b does not
    assert t.is_subscribed("b", now=130) and not t.is_subscribed("b", now=130.1)
    assert t.peers_for(PS, "/x/1/a/p", now=131) == ["a"]  # expired peers get nothing, swept or not
    assert t.expire(now=131) == ["b"]
    assert "b" not in t and t.expired == 1
    assert not t.refresh("b", now=131)
    assert t.expire(now=156) == ["a"]
    assert len(t) == 0 and t.peers_for(PS, "/x/1/a/p", now=156) == []


def test_an_expired_subscription_does_not_come_back_with_new_criteria() -> None:
    t = SubscriptionTable(10, 10, timeout=10)
    t.add("a", crit("/x/1/old/p"), now=0)
    t.add("a", crit("/x/1/new/p"), now=20)  # not swept yet, but expired: starts afresh
    assert t.criteria("a") == frozenset(crit("/x/1/new/p"))
    assert t.peers_for(PS, "/x/1/old/p", now=20) == []


def test_remove_peer_is_unsubscribe_all() -> None:
    t = SubscriptionTable(10, 10, 60)
    t.add("a", crit("/x/1/a/p", "/x/1/b/p") + crit("/x/1/a/p", topic=OTHER), now=0)
    assert t.remove_peer("a")
    assert not t.remove_peer("a")
    assert len(t) == 0 and t.criteria_count == 0
    assert t.peers_for(PS, "/x/1/a/p", now=0) == [] and t.peers_for(OTHER, "/x/1/a/p", now=0) == []


ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "drop", "ping", "expire"]),
                         st.sampled_from("abcd"), st.sets(st.sampled_from("wxyz"), min_size=1),
                         st.floats(0, 5)), max_size=40)


@settings(max_examples=200)
@given(ops)
def test_index_and_limits_stay_consistent(operations: list[tuple[str, str, set[str], float]]) -> None:
    t = SubscriptionTable(max_peers=3, max_criteria_per_peer=3, timeout=4)
    now = 0.0
    for op, peer, cts, dt in operations:
        now += dt
        try:
            if op == "add":
                t.add(peer, crit(*cts), now)
            elif op == "remove":
                t.remove(peer, crit(*cts), now)
            elif op == "drop":
                t.remove_peer(peer)
            elif op == "ping":
                t.refresh(peer, now)
            else:
                t.expire(now)
        except Refusal:
            pass
        assert len(t) <= 3
        for p in t.peer_ids:
            held = t.criteria(p)
            assert 0 < len(held) <= 3
            for topic, ct in held:
                assert (p in t.peers_for(topic, ct, now)) == t.is_subscribed(p, now)
        for ct in "wxyz":
            assert all(ct_crit in t.criteria(p) for p in t.peers_for(PS, ct, now) for ct_crit in [(PS, ct)])
