"""API key verification with a short in-memory cache, so the key derivation does not run on every call.

A verified key is trusted for `cache_seconds` on this replica (keyed by key id, matched by a SHA-256 of the full
token so a wrong secret never hits the cache). Revocation on this replica drops the entry at once; on other
replicas it takes effect within `cache_seconds`. Expiry is checked on every call, cached or not. Key derivations
run in threads, at most `max_parallel_hashes` at once.
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

from gateway.config import ApiKeySettings
from gateway.domain import api_keys as domain
from gateway.domain.api_keys import ApiKey
from gateway.store.uow import GatewayUnitOfWork
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import Unauthenticated

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
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow_factory
        self._ttl = settings.cache_seconds
        self._hashing = asyncio.Semaphore(settings.max_parallel_hashes)
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        parsed = domain.parse_token(token)
        if parsed is None:
            raise Unauthenticated("the API key is malformed")
        digest = hashlib.sha256(token.encode()).digest()
        key = self._cached(parsed.key_id, digest) or await self._load(parsed, digest)
        if key.expired(utcnow()):
            raise Unauthenticated("the API key has expired")
        return key.principal()

    def invalidate(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    def _cached(self, key_id: str, digest: bytes) -> ApiKey | None:
        entry = self._cache.get(key_id)
        if entry is None or entry.fresh_until <= self._clock() or not hmac.compare_digest(entry.digest, digest):
            return None
        return entry.key

    async def _load(self, parsed: domain.KeyToken, digest: bytes) -> ApiKey:
        async with self._uow() as uow:
            stored = await uow.api_keys.get(parsed.key_id)
        if stored is None:
            raise Unauthenticated("the API key is not valid")
        async with self._hashing:
            matches = await asyncio.to_thread(domain.verify_secret, stored.secret_hash, parsed.secret)
        if not matches:
            raise Unauthenticated("the API key is not valid")
        key = stored.key
        if key.revoked_at is not None:
            self.invalidate(key.key_id)
            raise Unauthenticated("the API key has been revoked")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            async with self._uow() as uow:
                await uow.api_keys.touch(key.key_id, now)
                await uow.commit()
            key = dataclasses.replace(key, last_used_at=now)
        if self._ttl > 0:
            self._remember(key, digest)
        return key

    def _remember(self, key: ApiKey, digest: bytes) -> None:
        self._cache.pop(key.key_id, None)
        self._cache[key.key_id] = _Entry(digest, key, self._clock() + self._ttl)
        while len(self._cache) > MAX_CACHED_KEYS:
            self._cache.popitem(last=False)
