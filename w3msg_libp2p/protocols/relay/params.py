"""Gossipsub v1.1 router and peer-score parameters, with the values Waku networks deploy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.errors import ConfigError

WAKU_RELAY_PROTOCOL = "/vac/waku/relay/2.0.0"
MESHSUB_V11 = "/meshsub/1.1.0"
MESHSUB_V10 = "/meshsub/1.0.0"
RELAY_PROTOCOLS = (WAKU_RELAY_PROTOCOL, MESHSUB_V11, MESHSUB_V10)
V11_PROTOCOLS = frozenset({WAKU_RELAY_PROTOCOL, MESHSUB_V11})


@dataclass(frozen=True, slots=True)
class TopicScoreParams:
    """Per-topic score parameters (gossipsub v1.1 spec, section "Topic Parameter Calculation").

    Defaults are nwaku's (waku_relay/protocol.nim): reward time in mesh and first deliveries,
    punish invalid messages hard; P3/P3b are off because traffic per shard is too uneven to
    set a delivery threshold that would not punish honest quiet peers.
    """

    topic_weight: float = 1.0
    time_in_mesh_weight: float = 0.01
    time_in_mesh_quantum: float = 1.0
    time_in_mesh_cap: float = 10.0
    first_message_deliveries_weight: float = 1.0
    first_message_deliveries_decay: float = 0.5
    first_message_deliveries_cap: float = 10.0
    mesh_message_deliveries_weight: float = 0.0
    mesh_message_deliveries_decay: float = 0.0
    mesh_message_deliveries_cap: float = 0.0
    mesh_message_deliveries_threshold: float = 0.0
    mesh_message_deliveries_window: float = 0.0
    mesh_message_deliveries_activation: float = 0.0
    mesh_failure_penalty_weight: float = 0.0
    mesh_failure_penalty_decay: float = 0.0
    invalid_message_deliveries_weight: float = -100.0
    invalid_message_deliveries_decay: float = 0.5

    def validate(self) -> None:
        if self.topic_weight < 0:
            raise ConfigError("topic_weight must be >= 0")
        for name in ("time_in_mesh_weight", "first_message_deliveries_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (it is a reward)")
        for name in ("mesh_message_deliveries_weight", "mesh_failure_penalty_weight",
                     "invalid_message_deliveries_weight"):
            if getattr(self, name) > 0:
                raise ConfigError(f"{name} must be <= 0 (it is a penalty)")
        if self.time_in_mesh_quantum <= 0:
            raise ConfigError("time_in_mesh_quantum must be positive")
        for name in ("first_message_deliveries_decay", "mesh_message_deliveries_decay",
                     "mesh_failure_penalty_decay", "invalid_message_deliveries_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class ScoreParams:
    topic: TopicScoreParams = field(default_factory=TopicScoreParams)
    topic_score_cap: float = 0.0  # 0: no cap
    app_specific_weight: float = 0.0
    ip_colocation_factor_weight: float = -50.0
    ip_colocation_factor_threshold: float = 5.0
    behaviour_penalty_weight: float = -10.0
    behaviour_penalty_threshold: float = 0.0
    behaviour_penalty_decay: float = 0.986
    decay_interval: float = 12.0
    decay_to_zero: float = 0.01
    retain_score: float = 600.0
    # thresholds
    gossip_threshold: float = -100.0
    publish_threshold: float = -1000.0
    graylist_threshold: float = -10000.0
    accept_px_threshold: float = 100.0
    opportunistic_graft_threshold: float = 1.0

    def validate(self) -> None:
        self.topic.validate()
        if self.ip_colocation_factor_weight > 0 or self.behaviour_penalty_weight > 0:
            raise ConfigError("ip_colocation_factor_weight and behaviour_penalty_weight must be <= 0")
        if not 0 < self.behaviour_penalty_decay < 1:
            raise ConfigError("behaviour_penalty_decay must be in (0, 1)")
        if not self.gossip_threshold <= 0:
            raise ConfigError("gossip_threshold must be <= 0")
        if not self.publish_threshold <= self.gossip_threshold:
            raise ConfigError("publish_threshold must be <= gossip_threshold")
        if not self.graylist_threshold < self.publish_threshold:
            raise ConfigError("graylist_threshold must be < publish_threshold")
        if self.accept_px_threshold < 0 or self.opportunistic_graft_threshold < 0:
            raise ConfigError("accept_px_threshold and opportunistic_graft_threshold must be >= 0")
        if self.decay_interval <= 0:
            raise ConfigError("decay_interval must be positive")


@dataclass(frozen=True, slots=True)
class GossipParams:
    d: int = 6
    d_low: int = 4
    d_high: int = 8
    d_score: int = 6
    d_out: int = 3
    d_lazy: int = 6
    gossip_factor: float = 0.25
    heartbeat_interval: float = 1.0
    history_length: int = 6
    history_gossip: int = 3
    fanout_ttl: float = 60.0
    seen_ttl: float = 120.0
    prune_backoff: float = 60.0
    unsubscribe_backoff: float = 5.0
    graft_flood_threshold: float = 10.0
    flood_publish: bool = True
    max_ihave_length: int = 5000
    max_ihave_messages: int = 10
    iwant_followup_time: float = 3.0
    gossip_retransmission: int = 3
    opportunistic_graft_ticks: int = 60
    opportunistic_graft_peers: int = 2
    max_message_size: int = 150 * 1024 + 1024  # a WakuMessage of 150 KiB plus the pubsub envelope
    max_rpc_size: int = 1024 * 1024 + 4096
    batch_bytes: int = 60 * 1024  # coalesce queued messages into RPCs of at most this size
    max_peer_queue_bytes: int = 16 * 1024 * 1024
    score: ScoreParams = field(default_factory=ScoreParams)

    def validate(self) -> None:
        if not 0 < self.d_low <= self.d <= self.d_high:
            raise ConfigError(f"need 0 < d_low <= d <= d_high (got {self.d_low}, {self.d}, {self.d_high})")
        if not 0 <= self.d_out < self.d_low or self.d_out > self.d // 2:
            raise ConfigError("need 0 <= d_out < d_low and d_out <= d/2")
        if not 0 <= self.d_score <= self.d:
            raise ConfigError("need 0 <= d_score <= d")
        if self.heartbeat_interval <= 0:
            raise ConfigError("heartbeat_interval must be positive")
        if not 0 < self.history_gossip <= self.history_length:
            raise ConfigError("need 0 < history_gossip <= history_length")
        if self.max_message_size <= 0 or self.max_rpc_size < self.max_message_size:
            raise ConfigError("need 0 < max_message_size <= max_rpc_size")
        if not 0 < self.batch_bytes <= 64 * 1024:
            raise ConfigError("batch_bytes must be in (0, 65536]: peers cap RPC frames")
        self.score.validate()
