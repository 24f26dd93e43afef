"""Token buckets, per peer. Pure: ``now`` is passed in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``capacity`` requests per ``period`` seconds, with bursts up to ``capacity``."""

    capacity: int
    period: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.period <= 0:
            raise ConfigError(f"rate limit needs a positive capacity and period, got {self}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"100/1s"``, ``"10/500ms"``, ``"600/1m"``."""
        try:
            count, per = text.split("/")
            units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            unit = next(u for u in ("ms", "s", "m", "h") if per.endswith(u))
            return cls(int(count), float(per[: -len(unit)]) * units[unit])
        except (ValueError, StopIteration):
            raise ConfigError(f"rate limit {text!r} must look like 100/1s, 10/500ms or 600/1m") from None

    def __str__(self) -> str:
        return f"{self.capacity}/{self.period:g}s"


class TokenBucket:
    __slots__ = ("limit", "tokens", "updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.capacity)
        self.updated = now

    @property
    def rate(self) -> float:
        return self.limit.capacity / self.limit.period

    def take(self, now: float, cost: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def seconds_until(self, now: float, cost: float = 1.0) -> float:
        """How long until ``take(cost)`` can succeed (0 when it can now)."""
        self._refill(now)
        return max(0.0, (cost - self.tokens) / self.rate)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        self.tokens = min(float(self.limit.capacity), self.tokens + elapsed * self.rate)


class PeerRateLimiter:
    """One bucket per peer; the least recently seen peers are forgotten past ``max_peers``
    (a forgotten peer starts again with a full bucket, which only ever errs towards serving)."""

    def __init__(self, limit: RateLimit, max_peers: int = 10_000) -> None:
        self.limit = limit
        self.max_peers = max_peers
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, peer: str, now: float) -> bool:
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = TokenBucket(self.limit, now)
            if len(self._buckets) > self.max_peers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(peer)
        return bucket.take(now)
