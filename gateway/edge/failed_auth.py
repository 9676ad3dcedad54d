"""Failed-authentication limits: a token bucket per client address and one per API key id, in memory per replica.

Only credentials that do not verify take tokens (`InvalidCredential`: what a guess looks like). Every credential
is checked against the buckets before any verification work (database read, HMAC, scrypt, JWT signature): a client
past a limit is refused without its credential being looked at, so guessing costs the gateway a dictionary lookup.
The check does not take a token, so a burst of good credentials is never held back; failures that were in flight
together may overshoot a bucket by their number, which is why legacy scrypt hashes are checked once more right
before they are computed (at most `max_parallel_hashes` run at once).

Refusal: RESOURCE_EXHAUSTED (`TOO_MANY_FAILED_AUTHENTICATIONS`) with RetryInfo, rather than UNAUTHENTICATED: the
credential was not judged, and a client whose key was right learns when to retry instead of discarding it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.config import FailedAuthSettings
from gateway.domain.errors import TooManyFailedAuthentications
from gateway.edge.ratelimit import RateLimiter


class FailedAttempts:
    def __init__(self, settings: FailedAuthSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._enabled = settings.enabled
        self._per_client = f"{settings.per_client_per_minute:g} per minute, bursts of {settings.per_client_burst}"
        self._per_key = f"{settings.per_key_per_minute:g} per minute, bursts of {settings.per_key_burst}"
        self._clients = RateLimiter(
            settings.per_client_per_minute / 60,
            settings.per_client_burst,
            max_tracked=settings.max_tracked,
            clock=clock,
        )
        self._keys = RateLimiter(
            settings.per_key_per_minute / 60, settings.per_key_burst, max_tracked=settings.max_tracked, clock=clock
        )

    def check(self, client: str, key_id: str | None = None) -> None:
        """Raise TooManyFailedAuthentications if the client address (or the API key id) is past its limit."""
        if not self._enabled:
            return
        client_wait = self._clients.wait_time(client)
        key_wait = self._keys.wait_time(key_id) if key_id is not None else 0.0
        if client_wait <= 0 and key_wait <= 0:
            return
        if key_wait > client_wait:
            limit, scope, wait = self._per_key, "api_key", key_wait
            what = "for this API key"
        else:
            limit, scope, wait = self._per_client, "client", client_wait
            what = "from this client address"
        raise TooManyFailedAuthentications(
            f"too many failed authentications {what} ({limit}); retry in {wait:.2f} s",
            retry_after_seconds=wait,
            metadata={"scope": scope},
        )

    def failed(self, client: str, key_id: str | None = None) -> None:
        """Record a credential that did not verify."""
        if not self._enabled:
            return
        self._clients.try_acquire(client)
        if key_id is not None:
            self._keys.try_acquire(key_id)
