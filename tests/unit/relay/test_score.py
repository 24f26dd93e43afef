from __future__ import annotations

from dataclasses import replace

import pytest

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.protocols.relay.params import GossipParams, ScoreParams, TopicScoreParams
from w3msg_libp2p.protocols.relay.score import PeerScore

T = "/waku/2/rs/1/0"


def make(**topic: float) -> PeerScore:
    return PeerScore(ScoreParams(topic=TopicScoreParams(**topic)))


def test_time_in_mesh_is_a_capped_reward() -> None:
    s = make(time_in_mesh_weight=1.0, time_in_mesh_cap=10.0)
    s.add_peer("p", frozenset(), 0.0)
    s.graft("p", T, 0.0)
    s.refresh(0.0)
    s.refresh(5.0)
    assert s.score("p") == pytest.approx(5.0)
    s.refresh(100.0)
    assert s.score("p") == pytest.approx(10.0)


def test_first_deliveries_reward_decays() -> None:
    s = make(first_message_deliveries_weight=1.0, first_message_deliveries_decay=0.5)
    s.add_peer("p", frozenset(), 0.0)
    s.refresh(0.0)
    for _ in range(4):
        s.first_delivery("p", T)
    assert s.score("p") == 4.0
    s.refresh(12.0)  # one decay interval
    assert s.score("p") == 2.0


def test_invalid_messages_penalty_is_negative_and_squared() -> None:
    s = make()
    s.add_peer("p", frozenset(), 0.0)
    s.invalid_delivery("p", T)
    assert s.score("p") == -100.0
    s.invalid_delivery("p", T)
    assert s.score("p") == -400.0


def test_mesh_delivery_deficit_is_penalised_once_active() -> None:
    s = make(time_in_mesh_weight=0.0, first_message_deliveries_weight=0.0,
             mesh_message_deliveries_weight=-1.0, mesh_message_deliveries_threshold=4.0,
             mesh_message_deliveries_cap=10.0, mesh_message_deliveries_activation=2.0,
             mesh_failure_penalty_weight=-1.0, mesh_message_deliveries_decay=0.5,
             mesh_failure_penalty_decay=0.5)
    s.add_peer("p", frozenset(), 0.0)
    s.graft("p", T, 0.0)
    s.refresh(1.0)
    assert s.score("p") == 0.0  # not yet active
    s.refresh(3.0)
    assert s.score("p") == -16.0  # deficit 4, squared
    s.first_delivery("p", T)
    assert s.score("p") == -9.0
    s.prune("p", T)  # leaving with a deficit becomes a sticky mesh failure penalty
    assert s.score("p") == -9.0


def test_ip_colocation_and_behaviour_penalties() -> None:
    s = PeerScore(ScoreParams(ip_colocation_factor_threshold=2.0))
    for i in range(4):
        s.add_peer(f"p{i}", frozenset({"1.2.3.4"}), 0.0)
    assert s.score("p0") == pytest.approx(-50.0 * 4)  # surplus 2, squared, weight -50
    s.remove_peer("p3", 0.0)
    assert s.score("p0") == pytest.approx(-50.0)
    s.add_penalty("p0", 3)
    assert s.score("p0") == pytest.approx(-50.0 - 90.0)


def test_negative_scores_are_retained_after_disconnect_positive_ones_not() -> None:
    s = make()
    s.add_peer("bad", frozenset(), 0.0)
    s.invalid_delivery("bad", T)
    s.add_peer("good", frozenset(), 0.0)
    s.first_delivery("good", T)
    s.remove_peer("bad", 0.0)
    s.remove_peer("good", 0.0)
    s.add_peer("bad", frozenset(), 1.0)
    s.add_peer("good", frozenset(), 1.0)
    assert s.score("bad") < 0
    assert s.score("good") == 0
    s.remove_peer("bad", 2.0)
    s.refresh(2.0 + s.params.retain_score + 1)
    s.add_peer("bad", frozenset(), 700.0)
    assert s.score("bad") == 0


def test_invalid_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ScoreParams(topic=TopicScoreParams(invalid_message_deliveries_weight=1.0)).validate()
    with pytest.raises(ConfigError):
        ScoreParams(publish_threshold=0.0).validate()
    with pytest.raises(ConfigError):
        replace(GossipParams(), d_low=7).validate()
    with pytest.raises(ConfigError):
        replace(GossipParams(), batch_bytes=1 << 20).validate()
