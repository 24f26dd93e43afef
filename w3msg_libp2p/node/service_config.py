"""Configuration of the Waku service protocols (store, filter, lightpush, peer exchange).

Each is a frozen, validated dataclass; a protocol whose config is ``None`` in NodeConfig is not
mounted. ``rate_limit`` is per requesting peer (token bucket), ``None`` for unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.ratelimit import RateLimit

DAY = 24 * 3600.0
# RateLimit is frozen: one shared default instance is safe.
SERVICE_RATE_LIMIT = RateLimit(100, 1.0)
PEER_EXCHANGE_RATE_LIMIT = RateLimit(10, 1.0)


def _positive(section: str, **values: float | int | None) -> None:
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{section}: {name.replace('_', '-')} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Store v3 server and the message archive behind it."""

    # None: SQLite at <data-dir>/store.sqlite3. Else "sqlite:///path/to/file" or "postgresql://...".
    url: str | None = None
    max_age: float | None = 2 * DAY  # seconds a message is kept; None: no age limit
    max_messages: int | None = None  # newest kept; None: no count limit
    max_bytes: int | None = None  # of stored message bytes; None: no size limit
    retention_interval: float = 60.0  # how often the retention policy runs
    default_page_size: int = 20
    max_page_size: int = 100
    rate_limit: RateLimit | None = SERVICE_RATE_LIMIT

    def __post_init__(self) -> None:
        _positive("store", max_age=self.max_age, max_messages=self.max_messages, max_bytes=self.max_bytes,
                  retention_interval=self.retention_interval, default_page_size=self.default_page_size,
                  max_page_size=self.max_page_size)
        if self.default_page_size > self.max_page_size:
            raise ConfigError("store: default-page-size must not exceed max-page-size")
        if self.url is not None and not self.url.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ConfigError(f"store: url {self.url!r} must start with sqlite:// or postgresql://")


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Filter v2 server."""

    max_peers: int = 1000  # subscribed light clients in total
    max_criteria_per_peer: int = 1000  # (pubsub topic, content topic) pairs one peer may hold
    max_content_topics_per_request: int = 100
    subscription_timeout: float = 300.0  # a subscriber that neither pings nor resubscribes expires
    rate_limit: RateLimit | None = SERVICE_RATE_LIMIT

    def __post_init__(self) -> None:
        _positive("filter", max_peers=self.max_peers, max_criteria_per_peer=self.max_criteria_per_peer,
                  max_content_topics_per_request=self.max_content_topics_per_request,
                  subscription_timeout=self.subscription_timeout)


@dataclass(frozen=True, slots=True)
class LightpushConfig:
    """Lightpush v3 and v2 server."""

    rate_limit: RateLimit | None = SERVICE_RATE_LIMIT


@dataclass(frozen=True, slots=True)
class PeerExchangeConfig:
    """Peer exchange server."""

    max_peers_per_response: int = 50
    rate_limit: RateLimit | None = PEER_EXCHANGE_RATE_LIMIT

    def __post_init__(self) -> None:
        _positive("peer-exchange", max_peers_per_response=self.max_peers_per_response)
