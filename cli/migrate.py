"""`agentorch migrate`: apply each service's schema migrations as a deploy step.

In production (PostgreSQL) a release runs this once before rolling out, instead of relying on every replica's
migrate-on-start; settings come from the same environment variables the services read. With --data-dir it
prepares the SQLite files `agentorch up` uses.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from services.common.bootstrap import migration_set
from services.common.db import create_engine
from services.common.logs import configure_logging
from services.common.migrations import upgrade
from services.common.settings import DatabaseSettings, LoggingSettings

SERVICES = ("registry", "runs", "credentials", "gateway")


def run(services: Sequence[str], data_dir: Path | None) -> int:
    """Migrate `services` in order; stop at the first failure with one line on stderr and exit code 1."""
    configure_logging(LoggingSettings(level="WARNING", format="console"), "migrate")  # keep stdout for results
    for service in services:
        try:
            line = asyncio.run(_migrate(service, data_dir.resolve() if data_dir else None))
        except Exception as exc:
            print(f"agentorch migrate: {service}: {_reason(exc)}", file=sys.stderr)
            return 1
        print(line)
    return 0


async def _migrate(service: str, data_dir: Path | None) -> str:
    settings_class, directory = _service(service)
    if data_dir is None:
        database = settings_class().database
    else:
        database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{data_dir / f'{service}.db'}"))
    migrations = migration_set(service, database, directory)
    engine = create_engine(database, service)
    try:
        revision = await upgrade(engine, migrations)
    finally:
        await engine.dispose()
    where = make_url(database.url.get_secret_value()).render_as_string(hide_password=True)
    schema = f", schema {migrations.schema}" if database.is_postgresql else ""
    return f"{service}: at revision {revision or '(none)'} ({where}{schema})"


class _WithDatabase(Protocol):
    @property
    def database(self) -> DatabaseSettings: ...


def _service(name: str) -> tuple[Callable[[], _WithDatabase], Path]:
    """Settings class and migrations directory, imported on demand (each pulls in its service's code)."""
    if name == "registry":
        from services.registry import bootstrap as registry
        from services.registry.config import RegistrySettings

        return RegistrySettings, registry.MIGRATIONS
    if name == "runs":
        from services.runs import bootstrap as runs
        from services.runs.config import RunsSettings

        return RunsSettings, runs.MIGRATIONS
    if name == "credentials":
        from services.credentials import bootstrap as credentials
        from services.credentials.config import CredentialsSettings

        return CredentialsSettings, credentials.MIGRATIONS
    if name == "gateway":
        from gateway import bootstrap as gateway
        from gateway.config import GatewaySettings

        return GatewaySettings, gateway.MIGRATIONS
    raise ValueError(f"unknown service {name!r}")


def _reason(exc: Exception) -> str:
    """A one-line cause: pydantic's field errors, or the exception's first line (SQLAlchemy appends doc links)."""
    if isinstance(exc, ValidationError):
        return "invalid settings: " + "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
