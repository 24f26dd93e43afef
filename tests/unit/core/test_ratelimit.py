from __future__ import annotations

import pytest

from w3msg_libp2p.core.errors import ConfigError
from w3msg_libp2p.core.ratelimit import PeerRateLimiter, RateLimit, TokenBucket


def test_parse() -> None:
    assert RateLimit.parse("100/1s") == RateLimit(100, 1.0)
    assert RateLimit.parse("10/500ms") == RateLimit(10, 0.5)
    assert RateLimit.parse("600/1m") == RateLimit(600, 60.0)
    for bad in ["", "10", "x/1s", "10/1y", "0/1s", "5/0s"]:
        with pytest.raises(ConfigError):
            RateLimit.parse(bad)


def test_bucket_allows_bursts_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(RateLimit(5, 1.0), now=0.0)
    assert [bucket.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(0.2)  # 0.2 s at 5/s refills one token
    assert not bucket.take(0.2)
    assert all(bucket.take(10.0) for _ in range(5))  # refills only up to capacity
    assert not bucket.take(10.0)


def test_peers_are_limited_separately() -> None:
    limiter = PeerRateLimiter(RateLimit(2, 1.0))
    assert limiter.allow("a", 0) and limiter.allow("a", 0) and not limiter.allow("a", 0)
    assert limiter.allow("b", 0)


def test_tracked_peers_are_bounded() -> None:
    limiter = PeerRateLimiter(RateLimit(1, 100.0), max_peers=2)
    assert limiter.allow("a", 0) and limiter.allow("b", 0) and limiter.allow("c", 0)
    assert len(limiter._buckets) == 2
    assert not limiter.allow("c", 0)


def test_seconds_until_says_when_the_next_token_comes() -> None:
    bucket = TokenBucket(RateLimit(10, 10 / 12), now=0.0)  # burst 10, 12 a second
    assert all(bucket.take(0.0) for _ in range(10))
    assert not bucket.take(0.0)
    assert bucket.seconds_until(0.0) == pytest.approx(1 / 12)
    assert not bucket.take(0.05)
    assert bucket.take(1 / 12)
    assert bucket.seconds_until(10.0) == 0.0
