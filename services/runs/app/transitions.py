"""The one write path of runs: apply a state change to a locked run, commit it with its events, announce after commit.

Every use case (launch, the operator controls, checkpoint decisions) and the engine's worker write runs through
here, so every change of a run is one transaction that updates its state *and* appends its events, and nobody hears
of an event before it is committed: announcements to this process (the broker: watchers, the engine's wake-up) go
out after `commit()` returns; those to other replicas ride in the committing transaction itself (`notify`: the
store's LISTEN/NOTIFY payloads, delivered at commit).

The state changes themselves are the state machine's (`domain/machine.py`); this module only decides where they are
written and when they are announced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol

from services.common.db import utcnow
from services.runs.app.unit_of_work import Notify, RunsUnitOfWork, UnitOfWorkFactory
from services.runs.domain.model import RunState
from services.runs.domain.records import RunRecord, StoredEvent

# A state change of a locked run at `now` (a `machine` call); returning False writes nothing.
Change = Callable[[RunState, dt.datetime], bool | None]


class Publisher(Protocol):
    """Where committed events go in this process (the broker)."""

    def publish(self, events: Sequence[StoredEvent]) -> None: ...


class Transitions:
    def __init__(self, uow_factory: UnitOfWorkFactory, publisher: Publisher, notify: Notify | None = None) -> None:
        self._uow = uow_factory
        self._publisher = publisher
        self.notify = notify  # announces commits to other replicas (LISTEN/NOTIFY); None with one process

    async def apply(self, run_id: str, change: Change) -> RunState | None:
        """Apply `change` to the run, locked, in a transaction of its own; None if there is no such run."""
        async with self._uow() as uow:
            run = await uow.runs.load(run_id)
            if run is None:
                return None
            now = utcnow()
            if change(run, now) is False:
                return run
            await self.commit(uow, [run], now)
            return run

    async def commit(self, uow: RunsUnitOfWork, runs: Sequence[RunState], now: dt.datetime) -> list[StoredEvent]:
        """Write the changes and events of `runs` (loaded, and locked, in `uow`), commit, then announce them."""
        for run in runs:
            for checkpoint in run.checkpoints_opened:
                await uow.checkpoints.insert(run.run_id, run.organization_slug, checkpoint, now)
            run.checkpoints_opened.clear()
        stored = await uow.runs.save_many(runs, now, self.notify)
        await uow.commit()
        self._publisher.publish(stored)
        return stored

    async def create(
        self, uow: RunsUnitOfWork, run: RunState, record: RunRecord, now: dt.datetime
    ) -> list[StoredEvent]:
        """Write a new run (already through `machine.create`) with its first events, commit, then announce them.
        DuplicateRequest (nothing written) when a run with its request_id exists."""
        stored = await uow.runs.insert(run, record, now, self.notify)
        await uow.commit()
        self._publisher.publish(stored)
        return stored
