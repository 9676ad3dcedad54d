"""Async SQLAlchemy engines for the embedded default (SQLite) and production (PostgreSQL via asyncpg).

On PostgreSQL every service lives in its own schema (set as the connection's search_path), so the services can
share one database without seeing each other's tables. On SQLite each service has its own database file, in WAL
mode, and every transaction begins IMMEDIATE: transactions queue (busy_timeout) instead of failing with SQLITE_BUSY.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from services.common.errors import DatabaseUnavailable
from services.common.settings import DatabaseSettings


def schema_for(settings: DatabaseSettings, service: str) -> str:
    return settings.schema_name or service


def create_engine(settings: DatabaseSettings, service: str) -> AsyncEngine:
    url = make_url(settings.url.get_secret_value())
    if url.drivername == "sqlite+aiosqlite":
        return _sqlite_engine(url.database, settings)
    return create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=settings.pool_pre_ping,
        pool_recycle=settings.pool_recycle_seconds or -1,
        connect_args={
            "timeout": settings.probe_timeout_seconds,
            "server_settings": {
                "search_path": schema_for(settings, service),
                "application_name": f"agentorch-{service}",
            },
        },
    )


def _sqlite_engine(database: str | None, settings: DatabaseSettings) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{database or ''}", echo=settings.echo)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        # Take transaction control away from the driver so that BEGIN below is the only one issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
            # Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once (without the
            # busy handler) while another connection is inside a transaction: retry for a while instead.
            for attempt in _wal_switch_retries():
                with attempt:
                    cursor.execute("PRAGMA journal_mode=WAL")
            for pragma in ("foreign_keys=ON", "synchronous=NORMAL"):
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            # Readers (e.g. watch streams) take no write lock: in WAL mode they never block writers, even if a
            # cancelled reader's transaction lingers until its connection is collected.
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        # IMMEDIATE takes the write lock up front: one writer at a time, waiting (busy_timeout) instead of failing
        # with SQLITE_BUSY when a read transaction would later upgrade to a write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


READ_ONLY = "agentorch_read_only"


def _is_locked(error: BaseException) -> bool:
    # The driver adapter may re-raise sqlite3's error under its own OperationalError class.
    return type(error).__name__ == "OperationalError" and "database is locked" in str(error)


def _wal_switch_retries() -> Retrying:
    return Retrying(
        retry=retry_if_exception(_is_locked),
        wait=wait_random_exponential(multiplier=0.005, max=0.2),
        stop=stop_after_delay(10),
        reraise=True,
    )


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes even for timezone-aware columns; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UnitOfWork:
    """One database transaction: `async with uow:` … `await uow.commit()`; leaving without commit rolls back.

    Services subclass it to expose their repositories, built on `self.connection` in `_open()`.
    """

    connection: AsyncConnection

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._committed = False
        self._read_only = read_only

    async def __aenter__(self) -> Self:
        try:
            self.connection = await self._engine.connect()
        except Exception as exc:
            # A refused or timed-out connect surfaces as a bare OSError/TimeoutError: here, at the pool's door,
            # it can only mean that the database cannot be reached.
            if isinstance(exc, OSError | TimeoutError) or is_connection_failure(exc):
                raise DatabaseUnavailable() from exc
            raise
        try:
            if self._read_only:
                await self.connection.execution_options(**{READ_ONLY: True})
            await self.connection.begin()  # SQLite: waits for the write lock (busy timeout) and may fail here
        except BaseException:
            await self.connection.close()  # back to the pool, not left for the garbage collector
            raise
        self._committed = False
        self._open()
        return self

    def _open(self) -> None:
        """Hook for subclasses: create repositories on self.connection."""

    async def commit(self) -> None:
        await self.connection.commit()
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._committed:
                await self.connection.rollback()
        finally:
            await self.connection.close()


# --- connection failures ----------------------------------------------------------------------------------------

# SQLSTATEs of a server that is going away or cannot take the connection: class 08 (connection exception), admin
# or crash shutdown and "cannot connect now" (57P01..57P03, a restart in progress), too many connections (53300).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# SQLite's transient conditions: another process holds the lock past busy_timeout, or the file is unreachable.
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open database file", "disk i/o error")


def is_connection_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means the database could not be reached or the connection died under the
    call — a restart, a failover, a network cut, a locked SQLite file — rather than a bug or bad data. Such calls
    are safe to retry: they answer UNAVAILABLE."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_connection_failure_here(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_connection_failure_here(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return _is_connection_failure_here(exc.orig) if exc.orig is not None else False
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):  # pool checkout timed out
        return True
    if isinstance(
        exc,
        asyncpg.ConnectionDoesNotExistError | asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError,
    ):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES):
        return True
    if isinstance(exc, asyncpg.InterfaceError | sa_exc.InterfaceError) and "closed" in str(exc).lower():
        return True
    if isinstance(exc, sqlite3.OperationalError) or type(exc).__name__ == "OperationalError":
        text = str(exc).lower()
        return any(marker in text for marker in _SQLITE_TRANSIENT)
    return False


async def probe(engine: AsyncEngine, seconds: float) -> None:
    """One round trip (SELECT 1) through the pool; raises if the database does not answer within `seconds`."""
    async with asyncio.timeout(seconds), engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))
