"""Wiring helpers every service's bootstrap uses."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import db
from services.common.migrations import MigrationSet, upgrade
from services.common.settings import DatabaseSettings


def migration_set(service: str, settings: DatabaseSettings, directory: Path) -> MigrationSet:
    return MigrationSet(service=service, directory=directory, schema=db.schema_for(settings, service))


async def open_database(
    stack: AsyncExitStack, service: str, settings: DatabaseSettings, migrations_dir: Path
) -> AsyncEngine:
    """Create the service's engine (disposed when the stack closes) and migrate it if configured to."""
    engine = db.create_engine(settings, service)
    stack.push_async_callback(engine.dispose)
    if settings.migrate_on_start:
        await upgrade(engine, migration_set(service, settings, migrations_dir))
    return engine
