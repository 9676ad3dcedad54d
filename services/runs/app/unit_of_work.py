"""What the use cases need from storage: a unit of work (one transaction) with a run and a checkpoint repository.

Protocols only, so the app layer depends on no database library: `store/uow.py` is the SQL implementation (SQLite and
PostgreSQL), `tests/support/fake_runs.py` an in-memory one for unit tests of the use cases. Leaving the `async with`
block without `commit()` discards everything the transaction wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from services.runs.domain.model import CheckpointStatus, NewCheckpoint, OriginType, RunState, RunStatus
from services.runs.domain.records import CheckpointQuery, CheckpointRecord, RunRecord, StoredEvent, VoteRecord
from services.runs.domain.routing import Timers

# Builds the announcements of committed events for other replicas (LISTEN/NOTIFY payloads): the store sends them
# in the committing transaction itself, so they are delivered at commit, and only then. None with one process.
Notify = Callable[[Sequence[StoredEvent]], Sequence[str]]


class DuplicateRequest(Exception):
    """A run with this (organization, request_id) exists already."""


class RunRepository(Protocol):
    """Runs for transitions (loaded under the run's row lock, written back with their events) and for reading."""

    async def insert(
        self, run: RunState, record: RunRecord, now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        """A new run with its steps and first events; DuplicateRequest if its request_id was seen."""
        ...

    async def load(self, run_id: str, *, lock: bool = True, skip_locked: bool = False) -> RunState | None: ...

    async def claim_due(self, now: dt.datetime, limit: int) -> dict[str, RunState]:
        """Lock and load the runs that have one of the first `limit` due steps, skipping runs others hold."""
        ...

    async def save_many(
        self, states: Sequence[RunState], now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        """Write what changed in each run with its new events; returns the events with their sequence numbers."""
        ...

    async def load_view(self, run_id: str) -> tuple[RunState, RunRecord] | None: ...

    async def find_by_request(self, organization_slug: str, request_id: str) -> tuple[str, str] | None:
        """The run launched with `request_id` and its launch request's fingerprint."""
        ...

    async def interventions(self, run_id: str) -> list[StoredEvent]:
        """The run's OPERATOR_INTERVENTION events, in order."""
        ...

    async def next_due_at(self) -> dt.datetime | None: ...

    async def renew_leases(self, worker: str, until: dt.datetime) -> int: ...

    async def list_runs(
        self,
        organization_slug: str,
        *,
        status: RunStatus | None,
        orchestration: str,
        origin_type: OriginType | None,
        start: dt.datetime | None,
        end: dt.datetime | None,
        before: tuple[dt.datetime, str] | None,
        limit: int,
        origin: str = "",
    ) -> list[str]: ...

    async def events(
        self, run_id: str, *, after: int, limit: int, organization_slug: str | None = None
    ) -> list[StoredEvent]: ...

    async def latest_sequences(
        self, run_ids: Sequence[str], organizations: Sequence[str], since: dt.datetime
    ) -> list[tuple[str, str, int, str]]: ...

    async def organization_of(self, run_id: str) -> str | None: ...

    async def delete_finished_before(self, cutoff: dt.datetime, limit: int) -> int: ...


class CheckpointRepository(Protocol):
    async def insert(self, run_id: str, organization_slug: str, new: NewCheckpoint, now: dt.datetime) -> None: ...

    async def get(self, checkpoint_id: str) -> CheckpointRecord | None: ...

    async def record_decision(
        self,
        checkpoint_id: str,
        status: CheckpointStatus,
        decision: str,
        comment: str,
        payload: dict[str, Any],
        decided_by: str,
        now: dt.datetime,
        reason_code: str = "",
        *,
        override_justification: str | None = None,
    ) -> bool:
        """Write the decision if the checkpoint is still open; False if someone decided first.
        `override_justification` (not None) records an admin's override."""
        ...

    async def escalate(
        self, checkpoint_id: str, role: str, due_at: dt.datetime, remind_at: dt.datetime | None = None
    ) -> bool: ...

    async def update_open(
        self,
        record: CheckpointRecord,
        *,
        timers: Timers | None = None,
        assignees: list[str] | None = None,
        role: str | None = None,
    ) -> bool:
        """Change an open checkpoint's timers, assignees or role (issue 14); False if it is no longer open."""
        ...

    async def list_page(
        self, query: CheckpointQuery, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[CheckpointRecord]: ...

    async def open_ids_for_run(self, run_id: str) -> list[str]: ...


class VoteRepository(Protocol):
    """Checkpoint votes: immutable decision records, so insert and read only (i14-decisions)."""

    async def insert(self, vote: VoteRecord) -> None:
        """Record a vote; AlreadyVoted if the voter has voted on the checkpoint already."""
        ...

    async def for_checkpoints(self, checkpoint_ids: Sequence[str]) -> dict[str, list[VoteRecord]]:
        """The votes of each checkpoint, oldest first."""
        ...


class RunsUnitOfWork(Protocol):
    """One transaction: `async with uow:` … `await uow.commit()`; leaving without commit rolls back."""

    @property
    def runs(self) -> RunRepository: ...

    @property
    def checkpoints(self) -> CheckpointRepository: ...

    @property
    def votes(self) -> VoteRepository: ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


UnitOfWorkFactory = Callable[[], RunsUnitOfWork]
