"""Announcements across replicas over PostgreSQL LISTEN/NOTIFY.

`publish` runs `pg_notify` inside the transaction being committed, so the notification is delivered exactly when
(and only if) the events are. Each replica keeps one dedicated asyncpg connection listening on the channel and
feeds what other replicas announce into its in-process broker. A lost connection is re-established; anything
announced meanwhile is still found, because watchers read the log from their cursor and the engine re-scans due
work at least every `idle_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from services.common.logs import get_logger
from services.runs.app.notify import Announcement, Broker, announcements
from services.runs.store.runs import NOTIFY_CHANNEL, StoredEvent

log = get_logger("agentorch.runs.listener")
RECONNECT_SECONDS = 1.0


class PgAnnouncer:
    def __init__(self, database_url: str, broker: Broker, worker_id: str) -> None:
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._broker = broker
        self._worker_id = worker_id
        self._connection: Any = None
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
        self._connection.add_termination_listener(self._on_lost)

    async def stop(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()

    def payloads(self, stored: Sequence[StoredEvent]) -> list[str]:
        """The notifications announcing `stored` (one per run), sent by the committing transaction itself."""
        return [
            json.dumps(
                {"w": self._worker_id, "r": a.run_id, "o": a.organization_slug, "s": a.sequence, "t": a.run_status}
            )
            for a in announcements(stored)
        ]

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("w") == self._worker_id:
            return
        self._broker.announce([Announcement(data["r"], data["o"], int(data["s"]), data["t"])])

    def _on_lost(self, connection: Any) -> None:
        if not self._closing:
            log.warning("LISTEN connection lost; reconnecting")
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closing:
            try:
                await self.start()
                self._broker.wake_workers()
                return
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(RECONNECT_SECONDS)
