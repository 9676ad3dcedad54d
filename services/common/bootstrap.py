"""Wiring helpers every service's bootstrap uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import db
from services.common.migrations import MigrationSet, upgrade
from services.common.settings import DatabaseSettings
from services.common.supervisor import Liveness, Supervisor

PROBE_TASK = "database probe"


def migration_set(service: str, settings: DatabaseSettings, directory: Path) -> MigrationSet:
    return MigrationSet(service=service, directory=directory, schema=db.schema_for(settings, service))


async def open_database(
    stack: AsyncExitStack, supervisor: Supervisor, service: str, settings: DatabaseSettings, migrations_dir: Path
) -> AsyncEngine:
    """Create the service's engine (disposed when the stack closes), migrate it if configured to, and start the
    supervised database probe: a database that stays unreachable turns the process NOT_SERVING."""
    engine = db.create_engine(settings, service)
    stack.push_async_callback(engine.dispose)
    if settings.migrate_on_start:
        await upgrade(engine, migration_set(service, settings, migrations_dir))
    supervisor.spawn(PROBE_TASK, _probe(engine, settings), stall_seconds=settings.probe_interval_seconds * 2)
    stack.push_async_callback(supervisor.cancel, PROBE_TASK)  # before the engine is disposed
    return engine


def _probe(engine: AsyncEngine, settings: DatabaseSettings) -> Callable[[Liveness], Awaitable[None]]:
    async def run(liveness: Liveness) -> None:
        while True:
            await db.probe(engine, settings.probe_timeout_seconds)
            liveness.alive()
            await asyncio.sleep(settings.probe_interval_seconds)

    return run
