"""Per-service migrations on SQLite and PostgreSQL: idempotent, schema-scoped, safe to run concurrently."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from gateway import bootstrap as gateway
from services.common import db
from services.common.bootstrap import migration_set
from services.common.migrations import current_revision, upgrade
from services.common.settings import DatabaseSettings
from services.credentials import bootstrap as credentials
from services.registry import bootstrap as registry
from services.runs import bootstrap as runs

SERVICES = [registry, runs, credentials, gateway]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.NAME)
async def test_upgrade_reaches_head_and_is_idempotent(database: DatabaseSettings, service: object) -> None:
    name, directory = service.NAME, service.MIGRATIONS  # type: ignore[attr-defined]
    migrations = migration_set(name, database, directory)
    engine = db.create_engine(database, name)
    try:
        assert await current_revision(engine, migrations) is None
        assert await upgrade(engine, migrations) == migrations.head
        assert await upgrade(engine, migrations) == migrations.head
        assert await current_revision(engine, migrations) == migrations.head
    finally:
        await engine.dispose()


async def test_registry_tables_live_in_the_service_schema(database: DatabaseSettings) -> None:
    migrations = migration_set("registry", database, registry.MIGRATIONS)
    engine = db.create_engine(database, "registry")
    try:
        await upgrade(engine, migrations)
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                tables = set(
                    (
                        await conn.execute(
                            sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                            {"s": database.schema_name},
                        )
                    ).scalars()
                )
            else:
                tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert {"agents", "alembic_version"} <= tables
    finally:
        await engine.dispose()


async def test_concurrent_migrators_all_succeed(database: DatabaseSettings) -> None:
    """Replicas starting together: the advisory lock (PostgreSQL) or the file lock (SQLite) serialises them."""
    migrations = migration_set("registry", database, registry.MIGRATIONS)
    engines = [db.create_engine(database, "registry") for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(upgrade(e, migrations) for e in engines))
        assert revisions == [migrations.head] * 3
    finally:
        for engine in engines:
            await engine.dispose()
