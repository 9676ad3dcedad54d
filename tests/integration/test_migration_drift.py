"""Each service's migrations produce exactly the schema its table definitions describe (no drift)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway import bootstrap as gateway
from gateway.store import tables as gateway_tables
from services.common import db
from services.common.bootstrap import migration_set
from services.common.migrations import upgrade
from services.common.settings import DatabaseSettings
from services.credentials import bootstrap as credentials
from services.credentials.store import tables as credentials_tables
from services.registry import bootstrap as registry
from services.registry.store import tables as registry_tables
from services.runs import bootstrap as runs
from services.runs.store import tables as runs_tables

CASES = [
    (registry, registry_tables),
    (runs, runs_tables),
    (credentials, credentials_tables),
    (gateway, gateway_tables),
]


@pytest.mark.parametrize(("service", "tables"), CASES, ids=lambda m: getattr(m, "NAME", ""))
async def test_migrated_schema_matches_the_table_definitions(
    database: DatabaseSettings, service: ModuleType, tables: ModuleType
) -> None:
    engine = db.create_engine(database, service.NAME)
    try:
        await upgrade(engine, migration_set(service.NAME, database, service.MIGRATIONS))

        def drift(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return [d for d in compare_metadata(context, tables.metadata) if not _is_version_table(d)]

        async with engine.connect() as conn:
            assert await conn.run_sync(drift) == []
    finally:
        await engine.dispose()


def _is_version_table(diff: Any) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"
