"""API key verification against the gateway's database (SQLite and PostgreSQL): the cache, revocation on this and
on another replica, HMAC hashes under rotating peppers, legacy scrypt keys rewritten on first use, and the
failed-attempt limits that refuse wrong secrets before any database read or hash."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app.api_keys import ApiKeyService, CreatedKey
from gateway.auth.api_keys import ApiKeyVerifier
from gateway.bootstrap import MIGRATIONS, NAME
from gateway.config import ApiKeySettings, FailedAuthSettings
from gateway.domain import api_keys as domain
from gateway.domain.errors import InvalidCredential, TooManyFailedAuthentications
from gateway.edge.failed_auth import FailedAttempts
from gateway.store.tables import api_keys
from gateway.store.uow import GatewayUnitOfWork
from services.common import db
from services.common.bootstrap import migration_set
from services.common.context import Principal
from services.common.errors import Unauthenticated
from services.common.migrations import upgrade
from services.common.settings import DatabaseSettings
from tests.support.gateway import new_org

TTL = 5.0
P1 = domain.PepperRing({"p1": b"\x01" * 32}, "p1")
P1_P2 = domain.PepperRing({"p1": b"\x01" * 32, "p2": b"\x02" * 32}, "p2")
P2 = domain.PepperRing({"p2": b"\x02" * 32}, "p2")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """The unit of work factory, counting the transactions it opens (each one database read or write)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.opened = 0

    def __call__(self) -> GatewayUnitOfWork:
        self.opened += 1
        return GatewayUnitOfWork(self._engine)


@pytest.fixture
async def engine(database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database, NAME)
    try:
        await upgrade(engine, migration_set(NAME, database, MIGRATIONS))
        yield engine
    finally:
        await engine.dispose()


async def create_key(
    uow: Callable[[], GatewayUnitOfWork], peppers: domain.PepperRing = P1, *roles: str
) -> tuple[CreatedKey, Principal]:
    org = new_org()
    admin = Principal("alice", org, frozenset({"admin"}))
    created = await ApiKeyService(uow, peppers).create(
        admin, "jwt", f"organizations/{org}", "ci", list(roles or ["viewer"]), None
    )
    return created, admin


async def stored(engine: AsyncEngine, key_id: str) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(api_keys.c.secret_hash, api_keys.c.pepper_id).where(api_keys.c.key_id == key_id)
            )
        ).one()
    return row.secret_hash, row.pepper_id


def wrong(token: str) -> str:
    return token[:-2] + ("zz" if not token.endswith("zz") else "yy")


async def test_a_key_revoked_on_another_replica_fails_within_the_cache_ttl(engine: AsyncEngine) -> None:
    def uow() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(engine)

    clock = Clock()
    here = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), P1, clock=clock)
    there = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), P1, clock=clock)
    keys_here = ApiKeyService(uow, P1, on_revoke=here.invalidate)
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

    verifier = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), P1, clock=Clock())
    created, _ = await create_key(uow, P1, "author")
    await verifier.verify(created.token)
    with pytest.raises(InvalidCredential, match="not valid"):
        await verifier.verify(wrong(created.token))
    assert (await verifier.verify(created.token)).roles == {"author"}


async def test_new_keys_are_stored_as_hmac_under_the_active_pepper(engine: AsyncEngine) -> None:
    def uow() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(engine)

    created, _ = await create_key(uow, P1_P2)
    value, pepper_id = await stored(engine, created.key.key_id)
    assert value.startswith("hmac-sha256$")
    assert pepper_id == "p2"
    assert created.token.split("_", 2)[2] not in value
    verifier = ApiKeyVerifier(uow, ApiKeySettings(), P1_P2)
    assert (await verifier.verify(created.token)).subject == f"apikey:{created.key.key_id}"


async def test_a_legacy_scrypt_key_works_and_is_rewritten_as_hmac_on_first_use(database: DatabaseSettings) -> None:
    """A key created before the peppers (migration 0001, scrypt hash) keeps working across the upgrade."""
    engine = db.create_engine(database, NAME)
    try:
        migrations = migration_set(NAME, database, MIGRATIONS)
        await upgrade(engine, migrations, "0001")
        key_id, secret = domain.new_key_id(), domain.new_secret()
        token = domain.format_token(key_id, secret)
        legacy = domain.hash_secret(secret)
        old_table = sa.table(
            "api_keys",
            *(sa.column(c) for c in ("key_id", "organization_slug", "display_name", "secret_hash", "created_by")),
            sa.column("roles", sa.JSON),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        async with engine.begin() as conn:
            await conn.execute(
                old_table.insert().values(
                    key_id=key_id,
                    organization_slug="acme",
                    display_name="old ci",
                    roles=["operator"],
                    secret_hash=legacy,
                    created_by="alice",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        await upgrade(engine, migrations)
        assert await stored(engine, key_id) == (legacy, None)

        def uow() -> GatewayUnitOfWork:
            return GatewayUnitOfWork(engine)

        verifier = ApiKeyVerifier(uow, ApiKeySettings(), P1)
        with pytest.raises(InvalidCredential, match="not valid"):
            await verifier.verify(wrong(token))
        assert await stored(engine, key_id) == (legacy, None)  # a failure rewrites nothing

        principal = await verifier.verify(token)
        assert (principal.subject, principal.organization_slug, principal.roles) == (
            f"apikey:{key_id}",
            "acme",
            {"operator"},
        )
        value, pepper_id = await stored(engine, key_id)
        assert (value, pepper_id) == (P1.hash(token).value, "p1")  # the HMAC form now; scrypt is never run again
        fresh = ApiKeyVerifier(uow, ApiKeySettings(), P1)  # another replica, nothing cached
        assert (await fresh.verify(token)).subject == f"apikey:{key_id}"
    finally:
        await engine.dispose()


async def test_keys_move_to_the_active_pepper_on_use_so_an_old_pepper_can_be_retired(engine: AsyncEngine) -> None:
    def uow() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(engine)

    used, _ = await create_key(uow, P1)
    idle, _ = await create_key(uow, P1)
    # Step 1 of a rotation: p2 added and made active, p1 kept. Keys hashed under p1 verify, and move to p2.
    rotating = ApiKeyVerifier(uow, ApiKeySettings(), P1_P2)
    await rotating.verify(used.token)
    assert (await stored(engine, used.key.key_id))[1] == "p2"
    assert (await stored(engine, idle.key.key_id))[1] == "p1"
    # Step 2: p1 removed. The key used since works; one never used since is no longer valid.
    retired = ApiKeyVerifier(uow, ApiKeySettings(), P2)
    assert (await retired.verify(used.token)).subject == f"apikey:{used.key.key_id}"
    with pytest.raises(InvalidCredential, match="not valid"):
        await retired.verify(idle.token)


async def test_wrong_secrets_past_the_limit_are_refused_before_the_database_is_read(engine: AsyncEngine) -> None:
    uow = Counted(engine)
    clock = Clock()
    limits = FailedAuthSettings(per_key_burst=3, per_key_per_minute=6, per_client_burst=1000)
    failures = FailedAttempts(limits, clock=clock)
    verifier = ApiKeyVerifier(uow, ApiKeySettings(cache_seconds=TTL), P1, failures, clock=clock)
    created, _ = await create_key(uow, P1)
    await verifier.verify(created.token)  # the owner, before the attack: known to this replica now

    for _ in range(3):
        with pytest.raises(InvalidCredential):
            await verifier.verify(wrong(created.token), "ipv4:10.0.0.1")
    reads = uow.opened
    for client in ("ipv4:10.0.0.1", "ipv4:10.0.0.2"):  # the key id's limit holds whoever tries
        with pytest.raises(TooManyFailedAuthentications) as caught:
            await verifier.verify(wrong(created.token), client)
        assert caught.value.reason == "TOO_MANY_FAILED_AUTHENTICATIONS"
        assert caught.value.metadata == {"scope": "api_key"}
        assert 0 < caught.value.retry_after_seconds <= 10
    assert uow.opened == reads  # refused without reading the key

    # The owner's token is the one this replica verified: never held back, even once its cache entry is stale.
    clock.now += TTL
    assert (await verifier.verify(created.token, "ipv4:10.0.0.1")).subject == f"apikey:{created.key.key_id}"
    assert uow.opened == reads + 1  # re-read once (revocation), as after any cache expiry

    clock.now += 10  # one failure's worth of tokens back (6 per minute)
    with pytest.raises(InvalidCredential):
        await verifier.verify(wrong(created.token), "ipv4:10.0.0.3")
    with pytest.raises(TooManyFailedAuthentications):
        await verifier.verify(wrong(created.token), "ipv4:10.0.0.3")


async def test_a_client_spraying_key_ids_is_refused_before_the_database_is_read(engine: AsyncEngine) -> None:
    uow = Counted(engine)
    failures = FailedAttempts(FailedAuthSettings(per_client_burst=2, per_key_burst=1000), clock=Clock())
    verifier = ApiKeyVerifier(uow, ApiKeySettings(), P1, failures, clock=Clock())

    def random_key() -> str:
        return domain.format_token(domain.new_key_id(), domain.new_secret())

    for _ in range(2):
        with pytest.raises(InvalidCredential):
            await verifier.verify(random_key(), "ipv4:10.0.0.1")
    with pytest.raises(InvalidCredential, match="malformed"):  # malformed keys count too
        await ApiKeyVerifier(uow, ApiKeySettings(), P1, failures).verify("ak_nope", "ipv4:10.0.0.9")
    reads = uow.opened
    with pytest.raises(TooManyFailedAuthentications) as caught:
        await verifier.verify(random_key(), "ipv4:10.0.0.1")
    assert caught.value.metadata == {"scope": "client"}
    assert uow.opened == reads
    with pytest.raises(InvalidCredential):  # another address is judged as usual
        await verifier.verify(random_key(), "ipv4:10.0.0.2")


async def test_legacy_scrypt_hashes_queued_together_are_checked_again_before_hashing(
    database: DatabaseSettings,
) -> None:
    """Wrong secrets sent at once all pass the first check; only as many scrypt runs as the limit allows happen."""
    engine = db.create_engine(database, NAME)
    try:
        await upgrade(engine, migration_set(NAME, database, MIGRATIONS))

        def uow() -> GatewayUnitOfWork:
            return GatewayUnitOfWork(engine)

        created, _ = await create_key(uow, P1)
        async with engine.begin() as conn:  # make it a key from before the peppers
            await conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == created.key.key_id)
                .values(secret_hash=domain.hash_secret(created.token.split("_", 2)[2]), pepper_id=None)
            )
        failures = FailedAttempts(FailedAuthSettings(per_key_burst=1, per_client_burst=1000), clock=Clock())
        verifier = ApiKeyVerifier(uow, ApiKeySettings(max_parallel_hashes=1), P1, failures)
        outcomes = await asyncio.gather(
            *(verifier.verify(wrong(created.token), "ipv4:10.0.0.1") for _ in range(5)), return_exceptions=True
        )
        assert (
            sorted(type(o).__name__ for o in outcomes) == ["InvalidCredential"] + ["TooManyFailedAuthentications"] * 4
        )
    finally:
        await engine.dispose()
