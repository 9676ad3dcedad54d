"""Per-service Alembic migrations, applied programmatically (at start-up or by `agentorch migrate`).

Each service keeps its own history in `services/<name>/store/migrations/`; its env.py calls
`run_migrations(metadata)`. On PostgreSQL the service's schema is created if missing, the version table lives in
that schema, and concurrent migrators (several replicas starting at once) serialise on an advisory lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateSchema

from services.common.logs import get_logger

log = get_logger("agentorch.migrations")


@dataclass(frozen=True)
class MigrationSet:
    """Where a service's migration scripts live and which schema they own."""

    service: str
    directory: Path
    schema: str

    def config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.directory))
        cfg.set_main_option("path_separator", "os")
        cfg.attributes["schema"] = self.schema
        return cfg

    @property
    def head(self) -> str | None:
        return ScriptDirectory.from_config(self.config()).get_current_head()


async def upgrade(engine: AsyncEngine, migrations: MigrationSet, revision: str = "head") -> str | None:
    """Apply migrations up to `revision`; returns the revision the database is at afterwards."""
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade, migrations, revision)


async def current_revision(engine: AsyncEngine, migrations: MigrationSet) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current, migrations)


def _upgrade(connection: Connection, migrations: MigrationSet, revision: str) -> str | None:
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_lock_key(migrations.service))))
        connection.execute(CreateSchema(migrations.schema, if_not_exists=True))
        connection.execute(text("SELECT set_config('search_path', :schema, true)"), {"schema": migrations.schema})
    cfg = migrations.config()
    cfg.attributes["connection"] = connection
    before = _current(connection, migrations)
    command.upgrade(cfg, revision)
    after = _current(connection, migrations)
    if before != after:
        log.info("migrated", service=migrations.service, schema=migrations.schema, before=before, after=after)
    return after


def _current(connection: Connection, migrations: MigrationSet) -> str | None:
    opts = {"version_table_schema": migrations.schema} if connection.dialect.name == "postgresql" else {}
    return MigrationContext.configure(connection, opts=opts).get_current_revision()


def _lock_key(service: str) -> int:
    return int.from_bytes(hashlib.sha256(f"agentorch-migrate:{service}".encode()).digest()[:8], "big", signed=True)


def run_migrations(metadata: MetaData) -> None:
    """Body of every service's env.py: migrate on the connection handed over by `upgrade()`."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `agentorch migrate`, not the alembic command line")
    is_postgresql = connection.dialect.name == "postgresql"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=not is_postgresql,
        version_table_schema=config.attributes["schema"] if is_postgresql else None,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
