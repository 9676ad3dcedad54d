"""Announcements across replicas over PostgreSQL LISTEN/NOTIFY (the store side: it holds an asyncpg connection).

`payloads` is the app layer's `Notify` (app/unit_of_work.py): the `pg_notify` calls that the committing transaction
makes itself, so a notification is delivered exactly when (and only if) the events are. Each replica keeps one
dedicated asyncpg connection listening on the channel, as a supervised task (`run`), and feeds what other replicas
announce into its in-process broker (`Broker.announce`).

The connection can die without anyone noticing (a restart, a failover, a half-open TCP connection): the task
round-trips a `SELECT 1` every `keepalive_seconds` and ends with an error when the connection is lost or does not
answer, so the supervisor reconnects it with back-off (and reports NOT_SERVING if it cannot). Whatever was announced
while it was away is made good on reconnect: `resync(since)` re-announces the watched runs and the runs of watched
organizations changed meanwhile, and the engine is woken to re-scan due work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from services.common.db import utcnow
from services.common.logs import get_logger
from services.common.supervisor import Liveness
from services.runs.app.broker import Announcement, Broker, announcements
from services.runs.domain.records import StoredEvent
from services.runs.store.runs import NOTIFY_CHANNEL

log = get_logger("agentorch.runs.listener")
# Runs changed this long before the connection was last known good are re-announced too (commit vs clock).
RESYNC_MARGIN = dt.timedelta(seconds=30)

Resync = Callable[[dt.datetime], Awaitable[None]]


class ListenerLost(ConnectionError):
    """The LISTEN connection closed or stopped answering."""


class PgAnnouncer:
    def __init__(
        self,
        database_url: str,
        broker: Broker,
        worker_id: str,
        *,
        resync: Resync | None = None,
        keepalive_seconds: float = 5.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._broker = broker
        self._worker_id = worker_id
        self._resync = resync
        self._keepalive = keepalive_seconds
        self._timeout = timeout_seconds
        self._last_good: dt.datetime | None = None  # when the previous connection was last known to work

    def payloads(self, stored: Sequence[StoredEvent]) -> list[str]:
        """The notifications announcing `stored` (one per run), sent by the committing transaction itself."""
        return [
            json.dumps(
                {"w": self._worker_id, "r": a.run_id, "o": a.organization_slug, "s": a.sequence, "t": a.run_status}
            )
            for a in announcements(stored)
        ]

    async def run(self, liveness: Liveness) -> None:
        """Listen until the connection is lost (then raise, for the supervisor to reconnect)."""
        connection = await asyncpg.connect(self._dsn, timeout=self._timeout)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
            if self._last_good is not None:
                log.info("LISTEN connection re-established; re-announcing what may have been missed")
                if self._resync is not None:
                    await self._resync(self._last_good - RESYNC_MARGIN)
                self._broker.wake_workers()
            self._last_good = utcnow()
            liveness.alive()
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._keepalive):
                        await lost.wait()
                if lost.is_set() or connection.is_closed():
                    raise ListenerLost("the LISTEN connection was closed")
                try:
                    await connection.fetchval("SELECT 1", timeout=self._timeout)
                except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise ListenerLost(f"the LISTEN connection does not answer ({type(exc).__name__})") from exc
                self._last_good = utcnow()
                liveness.alive()
        finally:
            connection.terminate()  # never waits on a dead peer

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("w") == self._worker_id:
            return
        self._broker.announce([Announcement(data["r"], data["o"], int(data["s"]), data["t"])])
