"""API key verification: HMAC-SHA-256 under the server's pepper, a short in-memory cache, and the failed-attempt
limits in front of everything that costs work.

A verified key is trusted for `cache_seconds` on this replica without reading the database (keyed by key id,
matched by a SHA-256 of the full token, so a wrong secret never hits the cache nor evicts the right one).
Revocation on this replica drops the entry at once; on other replicas it takes effect within `cache_seconds`.
Expiry is checked on every call, cached or not. Past `cache_seconds` the entry still marks the token as one this
replica verified before: such a token is read and checked again, but never held back by the failed-attempt limits,
so someone flooding a key id with wrong secrets cannot lock out the key's owner.

Any other token is checked against the limits (per client address and per key id) before the database is read.
A legacy scrypt hash is checked once more right before it is computed, in a thread, at most `max_parallel_hashes`
at once; on its first successful use it is replaced by the HMAC form (as is an HMAC hash under a pepper that is no
longer the active one), in the same transaction as the approximate last-use time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import ApiKeySettings, FailedAuthSettings
from gateway.domain import api_keys as domain
from gateway.domain.api_keys import ApiKey, PepperRing
from gateway.domain.errors import InvalidCredential
from gateway.edge.failed_auth import FailedAttempts
from gateway.store.api_keys import StoredKey
from gateway.store.uow import GatewayUnitOfWork
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import Unauthenticated
from services.common.logs import get_logger

log = get_logger("agentorch.gateway.api_keys")

MAX_CACHED_KEYS = 10_000
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # last_used_time is approximate: written at most once a minute


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    key: ApiKey
    fresh_until: float


class ApiKeyVerifier:
    def __init__(
        self,
        uow_factory: Callable[[], GatewayUnitOfWork],
        settings: ApiKeySettings,
        peppers: PepperRing,
        failures: FailedAttempts | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow_factory
        self._ttl = settings.cache_seconds
        self._peppers = peppers
        self._failures = failures or FailedAttempts(FailedAuthSettings(enabled=False))
        self._hashing = asyncio.Semaphore(settings.max_parallel_hashes)
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    async def verify(self, token: str, client: str = "") -> Principal:
        """The key's principal; `client` is the caller's address, for the failed-attempt limits."""
        parsed = domain.parse_token(token)
        if parsed is None:
            self._failures.check(client)
            self._failures.failed(client)
            raise InvalidCredential("the API key is malformed")
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._cache.get(parsed.key_id)
        known = entry is not None and hmac.compare_digest(entry.digest, digest)
        if entry is not None and known and entry.fresh_until > self._clock():
            key = entry.key
        else:
            if not known:
                self._failures.check(client, parsed.key_id)
            key = await self._load(parsed, token, digest, client, known=known)
        if key.expired(utcnow()):
            raise Unauthenticated("the API key has expired")
        return key.principal()

    def invalidate(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def _load(self, parsed: domain.KeyToken, token: str, digest: bytes, client: str, *, known: bool) -> ApiKey:
        async with self._uow() as uow:
            stored = await uow.api_keys.get(parsed.key_id)
        if stored is None or not await self._matches(stored, parsed, token, client, known=known):
            if known:
                self.invalidate(parsed.key_id)
            self._failures.failed(client, parsed.key_id)
            raise InvalidCredential("the API key is not valid")
        key = stored.key
        if key.revoked_at is not None:
            self.invalidate(key.key_id)
            raise Unauthenticated("the API key has been revoked")
        now = utcnow()
        rehash = not self._peppers.is_current(stored.secret)
        touch = key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION
        if rehash or touch:
            async with self._uow() as uow:
                if rehash:
                    await uow.api_keys.replace_hash(key.key_id, stored.secret, self._peppers.hash(token))
                if touch:
                    await uow.api_keys.touch(key.key_id, now)
                await uow.commit()
            if touch:
                key = dataclasses.replace(key, last_used_at=now)
        self._remember(key, digest)
        return key

    async def _matches(
        self, stored: StoredKey, parsed: domain.KeyToken, token: str, client: str, *, known: bool
    ) -> bool:
        secret = stored.secret
        if not secret.legacy:
            if secret.pepper_id not in self._peppers.keys:
                log.warning(
                    "api key hashed under a pepper that is not configured",
                    key_id=parsed.key_id,
                    pepper_id=secret.pepper_id,
                )
            return self._peppers.matches(secret, token)
        async with self._hashing:
            if not known:  # failures that queued here together must not all get their scrypt
                self._failures.check(client, parsed.key_id)
            return await asyncio.to_thread(domain.verify_secret, secret.value, parsed.secret)

    def _remember(self, key: ApiKey, digest: bytes) -> None:
        self._cache.pop(key.key_id, None)
        self._cache[key.key_id] = _Entry(digest, key, self._clock() + self._ttl)
        while len(self._cache) > MAX_CACHED_KEYS:
            self._cache.popitem(last=False)
