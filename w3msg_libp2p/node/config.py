"""Node configuration: frozen, validated dataclasses, loadable from TOML.

A protocol whose config is ``None`` is not mounted. The CLI only builds a ``NodeConfig``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, TopicError
from ..core.ratelimit import RateLimit
from ..core.topics import MAX_CLUSTER_ID, MAX_SHARD, parse_content_topic, shard_for_content_topic, shard_topic
from .service_config import FilterConfig, LightpushConfig, PeerExchangeConfig, StoreConfig

DEFAULT_DATA_DIR = Path("~/.w3msg")
DEFAULT_TCP_PORT = 60000
DEFAULT_WS_PORT = 8000
DEFAULT_REST_PORT = 8645
DEFAULT_METRICS_PORT = 8008
KEY_TYPES = ("secp256k1", "ed25519")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _check_port(name: str, port: int) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"{name}: port must be an integer 0..65535, got {port!r}")


def _check_address(name: str, address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"{name}: {address!r} is not an IP address") from None


@dataclass(frozen=True, slots=True)
class RestConfig:
    """nwaku-compatible REST API."""

    address: str = "127.0.0.1"
    port: int = DEFAULT_REST_PORT
    # Messages kept per subscribed topic for GET /relay/v1/messages (nwaku keeps a bounded cache too).
    cache_capacity: int = 1000

    def __post_init__(self) -> None:
        _check_address("rest.address", self.address)
        _check_port("rest.port", self.port)
        if self.cache_capacity <= 0:
            raise ConfigError("rest.cache-capacity must be positive")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Prometheus /metrics endpoint."""

    address: str = "127.0.0.1"
    port: int = DEFAULT_METRICS_PORT

    def __post_init__(self) -> None:
        _check_address("metrics.address", self.address)
        _check_port("metrics.port", self.port)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Waku relay (gossipsub v1.1). Mesh values are nwaku's."""

    d: int = 6
    d_low: int = 4
    d_high: int = 8
    heartbeat_interval: float = 1.0
    flood_publish: bool = True
    max_timestamp_drift: float = 20.0  # seconds; further from our clock: IGNOREd
    subscriber_buffer: int = 4096  # messages queued per local subscriber before drops are counted
    publish_timeout: float = 5.0  # how long a publish waits for congested send queues

    def __post_init__(self) -> None:
        if not 0 < self.d_low <= self.d <= self.d_high:
            raise ConfigError(f"relay: need 0 < d-low <= d <= d-high, got {self.d_low}/{self.d}/{self.d_high}")
        if self.heartbeat_interval <= 0 or self.max_timestamp_drift <= 0 or self.publish_timeout <= 0:
            raise ConfigError("relay: heartbeat-interval, max-timestamp-drift and publish-timeout must be positive")
        if self.subscriber_buffer <= 0:
            raise ConfigError("relay: subscriber-buffer must be positive")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    key_file: Path | None = None  # default: <data_dir>/node.key
    key_type: str = "secp256k1"
    listen: tuple[str, ...] = (
        f"/ip4/0.0.0.0/tcp/{DEFAULT_TCP_PORT}",
        f"/ip4/0.0.0.0/tcp/{DEFAULT_WS_PORT}/ws",
    )
    peers: tuple[str, ...] = ()
    cluster_id: int = 1
    num_shards_in_cluster: int = 8
    shards: tuple[int, ...] = ()  # empty: every shard of the cluster (unless content topics are given)
    content_topics: tuple[str, ...] = ()
    relay: RelayConfig | None = field(default_factory=RelayConfig)
    # A full service node by default: any node can do any job (set a section to None / false to
    # leave a protocol out). Light mode mounts none of them.
    store: StoreConfig | None = field(default_factory=StoreConfig)
    filter: FilterConfig | None = field(default_factory=FilterConfig)
    lightpush: LightpushConfig | None = field(default_factory=LightpushConfig)
    peer_exchange: PeerExchangeConfig | None = field(default_factory=PeerExchangeConfig)
    # Light mode: no relay; publish by lightpush, receive by filter, query store, all through
    # these service peers (multiaddrs with /p2p/).
    light: bool = False
    service_peers: tuple[str, ...] = ()
    rest: RestConfig | None = field(default_factory=RestConfig)
    metrics: MetricsConfig | None = None
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.key_type not in KEY_TYPES:
            raise ConfigError(f"key-type must be one of {', '.join(KEY_TYPES)}, got {self.key_type!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log-level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if not 0 <= self.cluster_id <= MAX_CLUSTER_ID:
            raise ConfigError(f"cluster-id must be in 0..{MAX_CLUSTER_ID}, got {self.cluster_id}")
        if not 0 < self.num_shards_in_cluster <= MAX_SHARD + 1:
            raise ConfigError(f"num-shards-in-cluster must be in 1..{MAX_SHARD + 1}")
        for shard in self.shards:
            if not 0 <= shard <= MAX_SHARD:
                raise ConfigError(f"shard {shard} out of range 0..{MAX_SHARD}")
        for topic in self.content_topics:
            try:
                parse_content_topic(topic)
            except TopicError as exc:
                raise ConfigError(f"content-topics: {exc}") from None
        if not self.listen:
            raise ConfigError("listen: at least one listen address is required")
        from ..net.addresses import parse_multiaddr

        for addr in self.listen:
            parse_multiaddr(addr, what="listen address")
        if self.light and not self.service_peers:
            raise ConfigError("light mode needs at least one service peer (--service-peer)")
        for addr in self.service_peers:
            parse_multiaddr(addr, what="service peer", need_peer_id=True)
        for addr in self.peers:
            parse_multiaddr(addr, what="peer address", need_peer_id=True)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def resolved_key_file(self) -> Path:
        return (self.key_file or self.data_dir / "node.key").expanduser()

    def pubsub_topics(self) -> list[str]:
        """The shard topics this node relays: configured shards, plus the shards of its content
        topics; every shard of the cluster when neither is configured (as nwaku does)."""
        shards = set(self.shards)
        shards |= {shard_for_content_topic(t, self.num_shards_in_cluster) for t in self.content_topics}
        if not shards:
            shards = set(range(self.num_shards_in_cluster))
        return [shard_topic(self.cluster_id, s) for s in sorted(shards)]

    @classmethod
    def from_toml(cls, path: str | Path) -> NodeConfig:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "config") -> NodeConfig:
        sections = {"relay": RelayConfig, "rest": RestConfig, "metrics": MetricsConfig, "store": StoreConfig,
                    "filter": FilterConfig, "lightpush": LightpushConfig, "peer_exchange": PeerExchangeConfig}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name in sections:
                kwargs[name] = _section(sections[name], value, f"{source}: [{key}]")
            else:
                kwargs[name] = value
        config: NodeConfig = _build(cls, kwargs, source)
        return config

    def with_overrides(self, **changes: Any) -> NodeConfig:
        try:
            return replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None


_PATH_FIELDS = {"data_dir", "key_file"}
_OPTIONAL_FIELDS = {"rate_limit", "url", "max_age", "max_messages", "max_bytes", "key_file"}
_TUPLE_FIELDS = {"listen", "peers", "shards", "content_topics", "service_peers"}


def _section(kind: type[Any], value: Any, where: str) -> Any:
    if value is False:
        return None  # `rest = false` unmounts the REST API
    if value is True:
        return _build(kind, {}, where)  # `store = true`: mounted with defaults
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table (or false to disable)")
    if value.get("enabled", True) is False:
        return None
    value = {k.replace("-", "_"): v for k, v in value.items() if k != "enabled"}
    return _build(kind, value, where)


def _build(kind: type[Any], kwargs: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(kind)}
    for name in kwargs:
        if name not in known:
            raise ConfigError(f"{where}: unknown setting {name.replace('_', '-')!r}")
    for name, value in list(kwargs.items()):
        if name in _PATH_FIELDS and value is not None:
            kwargs[name] = Path(value)
        elif name == "rate_limit" and isinstance(value, str):
            kwargs[name] = RateLimit.parse(value)
        elif value is False and name in _OPTIONAL_FIELDS:
            kwargs[name] = None  # `max-age = false`: no limit
        elif name in _TUPLE_FIELDS:
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{where}: {name.replace('_', '-')} must be a list")
            kwargs[name] = tuple(value)
    try:
        return kind(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
