"""Token buckets per principal (and per client address or API key id for failed authentications), and the
stream slots of each principal, in memory on each replica.

Each key holds up to `burst` tokens, refilled at `rate` per second; a call takes one. With N replicas behind a
load balancer a principal gets up to N times the rate: the limit protects each replica, it is not a quota.
Buckets are kept in LRU order and the least recently used are dropped beyond `max_tracked` (a dropped bucket
comes back full, which only ever errs on the side of the caller).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.domain.errors import TooManyStreams
from services.common.errors import ResourceExhausted

STREAM_RETRY_SECONDS = 1.0  # RetryInfo of a refused stream: a hint; a slot frees when one of its streams ends


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, *, max_tracked: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._max = max_tracked
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    def try_acquire(self, key: str) -> float:
        """Take a token: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait

    def wait_time(self, key: str) -> float:
        """Seconds until `key` has a token (0.0 if it has one now), without taking it."""
        entry = self._buckets.get(key)
        if entry is None:
            return 0.0
        tokens, at = entry
        tokens = min(float(self.burst), tokens + (self._clock() - at) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def acquire(self, key: str) -> None:
        """Take a token or raise ResourceExhausted (RESOURCE_EXHAUSTED with RetryInfo)."""
        wait = self.try_acquire(key)
        if wait > 0:
            raise ResourceExhausted(
                f"rate limit exceeded ({self.rate:g} calls per second, bursts of {self.burst}); retry in {wait:.2f} s",
                retry_after_seconds=wait,
                metadata={"limit_per_second": f"{self.rate:g}", "burst": str(self.burst)},
            )


class StreamSlots:
    """Server streams open per principal: `take` one when a stream opens (TooManyStreams past `limit`; 0 means no
    cap), `release` it when the stream ends, whichever way it ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def take(self, key: str) -> None:
        held = self._open.get(key, 0)
        if self.limit and held >= self.limit:
            raise TooManyStreams(
                f"this caller already holds {held} open streams, the most one caller may hold at once on this "
                f"gateway replica ({self.limit}); close one before opening another",
                retry_after_seconds=STREAM_RETRY_SECONDS,
                metadata={"max_streams": str(self.limit)},
            )
        self._open[key] = held + 1

    def release(self, key: str) -> None:
        held = self._open.pop(key, 0) - 1
        if held > 0:
            self._open[key] = held

    def held(self, key: str) -> int:
        return self._open.get(key, 0)
