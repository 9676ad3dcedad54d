"""Token buckets per key, with a fake clock."""

from __future__ import annotations

import pytest

from gateway.edge.ratelimit import RateLimiter
from services.common.errors import ResourceExhausted


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.try_acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.try_acquire("a") == 0.0
    assert limiter.try_acquire("a") > 0
    assert limiter.try_acquire("b") == 0.0  # other keys are independent
    clock.now += 100
    assert [limiter.try_acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refills up to the burst only
    assert limiter.try_acquire("a") > 0


def test_exhaustion_says_when_to_retry() -> None:
    limiter = RateLimiter(rate=0.25, burst=1, clock=Clock())
    limiter.acquire("a")
    with pytest.raises(ResourceExhausted) as caught:
        limiter.acquire("a")
    assert caught.value.retry_after_seconds == pytest.approx(4.0)
    assert caught.value.metadata == {"limit_per_second": "0.25", "burst": "1"}


def test_the_least_recently_used_buckets_are_dropped() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_tracked=2, clock=Clock())
    limiter.acquire("a")
    limiter.acquire("b")
    limiter.acquire("c")  # drops a's (empty) bucket
    limiter.acquire("a")  # a starts again with a full bucket
    with pytest.raises(ResourceExhausted):
        limiter.acquire("c")


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)
