"""WatchRun and WatchRuns: replay from the event log, then follow announcements, with heartbeats.

A watcher subscribes before it reads, then always reads the log from its own cursor, so whatever is committed
after the subscription is found either by the read or by the next wake-up: no gap, and no duplicate since the
cursor only moves forward. Reading is paced by the client: a slow client holds only its cursor, never a growing
buffer, and never slows the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.common import authz
from services.common.db import utcnow
from services.common.errors import OrganizationNotFound, ValidationFailed
from services.runs.app.broker import Broker
from services.runs.app.runs import RunQueries, RunView, authorize_run
from services.runs.app.unit_of_work import UnitOfWorkFactory
from services.runs.domain.errors import RunNotFound
from services.runs.domain.model import RunStatus
from services.runs.domain.names import RunName, parse_org
from services.runs.domain.records import StoredEvent

PAGE = 500


@dataclass(frozen=True)
class Heartbeat:
    last_sequence: int
    time: dt.datetime


class Watcher:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        broker: Broker,
        queries: RunQueries,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._uow = uow_factory
        self._broker = broker
        self._queries = queries
        self._heartbeat = heartbeat_seconds

    async def watch_run(self, name: str, after: int) -> AsyncIterator[StoredEvent | Heartbeat]:
        principal = authz.require_principal()
        parsed = RunName.parse(name)
        if after < 0:
            raise ValidationFailed.single("after_sequence", "must be 0 or positive")
        authorize_run(principal, parsed, "viewer")
        subscription = self._broker.subscribe_run(parsed.run_id)
        feed = subscription.feed
        assert feed is not None
        try:
            if await feed.organization(lambda: self._organization_of(parsed.run_id)) != parsed.organization_slug:
                raise RunNotFound(str(parsed))

            async def log_page(run_id: str, cursor: int, limit: int) -> list[StoredEvent]:
                async with self._uow() as uow:
                    return await uow.runs.events(
                        run_id, after=cursor, limit=limit, organization_slug=parsed.organization_slug
                    )

            cursor, verify = after, False
            while True:
                # The shared feed when the cursor is inside it; the log otherwise (replay, a slow reader), and after
                # every quiet heartbeat interval (a safety net should an announcement have been lost).
                events = None if verify else feed.after(cursor)
                read_log = events is None
                if events is None:
                    events = await feed.read(cursor, log_page, PAGE, use_feed=not verify)
                verify = False
                for event in events:
                    cursor = event.sequence
                    yield event
                if (events and events[-1].final) or (not events and feed.ended_by(cursor)):
                    return
                if read_log and len(events) == PAGE:
                    continue
                if read_log and not events and await self._ended(parsed.run_id, cursor):
                    return
                if events:
                    continue  # more may have arrived while these were sent
                if not await subscription.wait(self._heartbeat):
                    yield Heartbeat(cursor, utcnow())
                    verify = True
                subscription.drain()
        finally:
            subscription.close()

    async def watch_runs(self, parent: str, statuses: set[RunStatus]) -> AsyncIterator[RunView | Heartbeat]:
        principal = authz.require_principal()
        org = parse_org(parent)
        authz.authorize(principal, org, "viewer", hidden=lambda: OrganizationNotFound(org))
        subscription = self._broker.subscribe_organization(org)
        # Per run: the sequence of the last view read, and what was last sent (status, reason, open checkpoints).
        # A view is read after its announcement, so it may already show what a later announcement announces: the
        # view's own sequence, not the announcement's, says what is new. Only status or checkpoint changes go out.
        seen: dict[str, tuple[int, tuple[object, ...]]] = {}
        try:
            while True:
                if not await subscription.wait(self._heartbeat):
                    yield Heartbeat(0, utcnow())
                    continue
                for latest in subscription.drain():
                    read, sent = seen.get(latest.run_id, (0, ()))
                    if read >= latest.sequence:
                        continue
                    async with self._uow() as uow:
                        try:
                            view = await self._queries.view(uow, RunName(org, latest.run_id))
                        except RunNotFound:
                            continue
                    state = view.state
                    shown = (state.status, state.status_reason, tuple(view.open_checkpoints))
                    seen[latest.run_id] = (max(state.last_sequence, latest.sequence), shown)
                    if shown != sent and (not statuses or state.status in statuses):
                        yield view
        finally:
            subscription.close()

    async def _organization_of(self, run_id: str) -> str | None:
        async with self._uow() as uow:
            return await uow.runs.organization_of(run_id)

    async def _ended(self, run_id: str, cursor: int) -> bool:
        async with self._uow() as uow:
            state = await uow.runs.load(run_id, lock=False)
        return state is not None and state.status.final and state.last_sequence <= cursor
