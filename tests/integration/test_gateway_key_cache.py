"""API key verification against the gateway's database: the cache, revocation on this and on another replica."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app.api_keys import ApiKeyService
from gateway.auth.api_keys import ApiKeyVerifier
from gateway.bootstrap import MIGRATIONS, NAME
from gateway.config import ApiKeySettings
from gateway.store.uow import GatewayUnitOfWork
from services.common import db
from services.common.bootstrap import migration_set
from services.common.context import Principal
from services.common.errors import Unauthenticated
from services.common.migrations import upgrade
from services.common.settings import DatabaseSettings
from tests.support.gateway import new_org

TTL = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database, NAME)
    try:
        await upgrade(engine, migration_set(NAME, database, MIGRATIONS))
        yield engine
    finally:
        await engine.dispose()


async def test_a_key_revoked_on_another_replica_fails_within_the_cache_ttl(engine: AsyncEngine) -> None:
    def uow() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(engine)

    clock = Clock()
    here = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), clock=clock)
    there = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), clock=clock)
    keys_here = ApiKeyService(uow, on_revoke=here.invalidate)
    org = new_org()
    admin = Principal("alice", org, frozenset({"admin"}))
    created = await keys_here.create(admin, "jwt", f"organizations/{org}", "ci", ["viewer"], None)

    for verifier in (here, there):
        assert (await verifier.verify(created.token)).subject == f"apikey:{created.key.key_id}"
    await keys_here.revoke(admin, created.key.name)

    with pytest.raises(Unauthenticated, match="revoked"):
        await here.verify(created.token)  # this replica forgot it at once
    assert (await there.verify(created.token)).organization_slug == org  # the other still trusts its cache...
    clock.now += TTL
    with pytest.raises(Unauthenticated, match="revoked"):
        await there.verify(created.token)  # ...for at most the TTL


async def test_the_cache_is_keyed_by_the_whole_token(engine: AsyncEngine) -> None:
    def uow() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(engine)

    verifier = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), clock=Clock())
    org = new_org()
    admin = Principal("alice", org, frozenset({"admin"}))
    created = await ApiKeyService(uow).create(admin, "jwt", f"organizations/{org}", "ci", ["author"], None)
    await verifier.verify(created.token)
    wrong = created.token[:-2] + ("zz" if not created.token.endswith("zz") else "yy")
    with pytest.raises(Unauthenticated, match="not valid"):
        await verifier.verify(wrong)
    assert (await verifier.verify(created.token)).roles == {"author"}
