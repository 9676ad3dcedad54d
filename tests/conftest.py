"""Shared fixtures: a real PostgreSQL (throwaway cluster or AGENTORCH_TEST_DATABASE_URL) and SQLite, per test.

Every store-backed test takes the `database` fixture and so runs once on SQLite and once on PostgreSQL. In CI
(CI=true) PostgreSQL must be there: a missing cluster fails the run, and any skipped PostgreSQL test fails it too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropSchema

from services.common.settings import DatabaseSettings
from tests.support.postgres import ENV_URL, PostgresUnavailable, throwaway_cluster

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if url := os.environ.get(ENV_URL):
        yield url
        return
    try:
        with throwaway_cluster() as url:
            yield url
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseSettings]:
    """Database settings for one test: a fresh SQLite file, or a fresh schema in PostgreSQL (dropped after)."""
    if request.param == "sqlite":
        yield DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"))
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield DatabaseSettings(url=SecretStr(url), schema_name=schema)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            found = await conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = :s OR nspname LIKE :p"),
                {"s": schema, "p": f"{schema}\\_%"},
            )
            for (name,) in found.all():  # the test's schema and its siblings (other services of the same test)
                await conn.execute(DropSchema(name, cascade=True, if_exists=True))
    finally:
        await engine.dispose()


# CI guard: a PostgreSQL test that was skipped is a failure, not a pass.
_skipped_postgres: list[str] = []
_ran_postgres: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" not in report.keywords:
        return
    if report.skipped:
        _skipped_postgres.append(report.nodeid)
    elif report.when == "call":
        _ran_postgres.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IN_CI or session.config.option.collectonly:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _skipped_postgres:
        if reporter:
            reporter.write_line(
                f"CI: {len(_skipped_postgres)} PostgreSQL tests were skipped; failing the run", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif not _ran_postgres and session.config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        if reporter:
            reporter.write_line("CI: no PostgreSQL test ran; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
