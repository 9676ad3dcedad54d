"""In-memory stand-ins for what the runs use cases depend on, for unit tests without a database or network.

`FakeRunsDatabase` is the committed state; each `FakeRunsUnitOfWork` works on a copy of it and replaces it only on
`commit()` (leaving without commit changes nothing), as cosmicpython's FakeUnitOfWork does for its handlers. The
repositories keep the SQL store's contracts that the use cases rely on: events numbered gap-free per run with the
run's status, DuplicateRequest for a repeated request_id, a decision recorded only on an open checkpoint, the newest
runs first. `FakeRegistry` answers launches from dictionaries and counts the agent lookups in flight at once.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from services.common.context import Principal
from services.common.errors import NotFound
from services.runs.app.registry import ResolvedDefinition
from services.runs.app.unit_of_work import DuplicateRequest, Notify
from services.runs.domain.errors import AlreadyVoted, LaunchRejected
from services.runs.domain.model import CheckpointStatus, NewCheckpoint, OriginType, RunState, RunStatus, StepStatus
from services.runs.domain.records import (
    CheckpointQuery,
    CheckpointRecord,
    RunRecord,
    StoredEvent,
    VoteRecord,
    number_events,
)
from services.runs.domain.routing import Timers


@dataclass
class Tables:
    runs: dict[str, RunState] = field(default_factory=dict)
    records: dict[str, RunRecord] = field(default_factory=dict)
    events: dict[str, list[StoredEvent]] = field(default_factory=dict)
    checkpoints: dict[str, CheckpointRecord] = field(default_factory=dict)
    votes: dict[str, VoteRecord] = field(default_factory=dict)


@dataclass
class FakeRunsDatabase:
    tables: Tables = field(default_factory=Tables)
    commits: int = 0
    notified: list[str] = field(default_factory=list)  # LISTEN/NOTIFY payloads of committed transactions

    def uow(self) -> FakeRunsUnitOfWork:
        return FakeRunsUnitOfWork(self)

    def events_of(self, run_id: str) -> list[StoredEvent]:
        return list(self.tables.events.get(run_id, []))


class FakeRunRepository:
    def __init__(self, tables: Tables, notified: list[str]) -> None:
        self._t = tables
        self._notified = notified  # this transaction's payloads (delivered only if it commits)

    async def insert(
        self, run: RunState, record: RunRecord, now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        if record.request_id and self._find(run.organization_slug, record.request_id):
            raise DuplicateRequest
        stored = _number(run, now)
        self._t.runs[run.run_id] = _committed(run)
        self._t.records[run.run_id] = record
        self._t.events[run.run_id] = list(stored)
        self._notify(stored, notify)
        return stored

    async def load(self, run_id: str, *, lock: bool = True, skip_locked: bool = False) -> RunState | None:
        run = self._t.runs.get(run_id)
        return copy.deepcopy(run) if run is not None else None

    async def claim_due(self, now: dt.datetime, limit: int) -> dict[str, RunState]:
        due = sorted(
            (state.due_at, run.run_id)
            for run in self._t.runs.values()
            for state in run.steps.values()
            if state.due_at is not None and state.due_at <= now
        )
        return {run_id: copy.deepcopy(self._t.runs[run_id]) for _, run_id in due[:limit]}

    async def save_many(
        self, states: Sequence[RunState], now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        stored: list[StoredEvent] = []
        for run in states:
            for checkpoint_id, status in run.checkpoints_closed:
                record = self._t.checkpoints.get(checkpoint_id)
                if record is not None and record.status is CheckpointStatus.OPEN:
                    self._t.checkpoints[checkpoint_id] = dataclasses.replace(record, status=CheckpointStatus(status))
            run.checkpoints_closed.clear()
            events = _number(run, now)
            self._t.events.setdefault(run.run_id, []).extend(events)
            stored += events
            self._t.runs[run.run_id] = _committed(run)
            self._t.records[run.run_id] = dataclasses.replace(self._t.records[run.run_id], updated_at=now)
        self._notify(stored, notify)
        return stored

    async def load_view(self, run_id: str) -> tuple[RunState, RunRecord] | None:
        run = self._t.runs.get(run_id)
        return (copy.deepcopy(run), self._t.records[run_id]) if run is not None else None

    async def find_by_request(self, organization_slug: str, request_id: str) -> tuple[str, str] | None:
        run_id = self._find(organization_slug, request_id)
        return (run_id, self._t.records[run_id].request_fingerprint) if run_id is not None else None

    async def interventions(self, run_id: str) -> list[StoredEvent]:
        return [e for e in self._t.events.get(run_id, []) if e.type == "operator_intervention"]

    async def next_due_at(self) -> dt.datetime | None:
        due = [s.due_at for run in self._t.runs.values() for s in run.steps.values() if s.due_at is not None]
        return min(due, default=None)

    async def renew_leases(self, worker: str, until: dt.datetime) -> int:
        renewed = 0
        for run in self._t.runs.values():
            for state in run.steps.values():
                if state.lease_owner == worker and state.status is StepStatus.RUNNING:
                    state.due_at, renewed = until, renewed + 1
        return renewed

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
    ) -> list[str]:
        found = []
        for run_id, run in self._t.runs.items():
            record = self._t.records[run_id]
            key = (record.created_at, run_id)
            if (
                run.organization_slug == organization_slug
                and (status is None or run.status is status)
                and (not orchestration or record.orchestration == orchestration)
                and (origin_type is None or record.origin_type is origin_type)
                and (not origin or record.origin == origin)
                and (start is None or record.created_at >= start)
                and (end is None or record.created_at < end)
                and (before is None or key < before)
            ):
                found.append(key)
        return [run_id for _, run_id in sorted(found, reverse=True)[:limit]]

    async def events(
        self, run_id: str, *, after: int, limit: int, organization_slug: str | None = None
    ) -> list[StoredEvent]:
        return [e for e in self._t.events.get(run_id, []) if e.sequence > after][:limit]

    async def latest_sequences(
        self, run_ids: Sequence[str], organizations: Sequence[str], since: dt.datetime
    ) -> list[tuple[str, str, int, str]]:
        return [
            (run.run_id, run.organization_slug, run.last_sequence, run.status.value)
            for run in self._t.runs.values()
            if run.run_id in run_ids
            or (run.organization_slug in organizations and self._t.records[run.run_id].updated_at >= since)
        ]

    async def organization_of(self, run_id: str) -> str | None:
        run = self._t.runs.get(run_id)
        return run.organization_slug if run is not None else None

    async def delete_finished_before(self, cutoff: dt.datetime, limit: int) -> int:
        ended = [r.run_id for r in self._t.runs.values() if r.ended_at is not None and r.ended_at < cutoff][:limit]
        for run_id in ended:
            for table in (self._t.runs, self._t.records, self._t.events):
                table.pop(run_id, None)
            for checkpoint_id in [c for c, record in self._t.checkpoints.items() if record.run_id == run_id]:
                del self._t.checkpoints[checkpoint_id]
        return len(ended)

    def _find(self, organization_slug: str, request_id: str) -> str | None:
        for run_id, record in self._t.records.items():
            if record.request_id == request_id and self._t.runs[run_id].organization_slug == organization_slug:
                return run_id
        return None

    def _notify(self, stored: Sequence[StoredEvent], notify: Notify | None) -> None:
        if notify is not None and stored:
            self._notified.extend(notify(stored))


class FakeCheckpointRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def insert(self, run_id: str, organization_slug: str, new: NewCheckpoint, now: dt.datetime) -> None:
        self._t.checkpoints[new.checkpoint_id] = CheckpointRecord.opened(run_id, organization_slug, new, now)

    async def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        return self._t.checkpoints.get(checkpoint_id)

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
        record = self._t.checkpoints.get(checkpoint_id)
        if record is None or record.status is not CheckpointStatus.OPEN:
            return False
        self._t.checkpoints[checkpoint_id] = dataclasses.replace(
            record,
            status=status,
            decision=decision,
            comment=comment,
            payload=payload,
            decided_by=decided_by,
            decided_at=now,
            reason_code=reason_code,
            override=override_justification is not None,
            override_justification=override_justification or "",
        )
        return True

    async def escalate(
        self, checkpoint_id: str, role: str, due_at: dt.datetime, remind_at: dt.datetime | None = None
    ) -> bool:
        record = self._t.checkpoints.get(checkpoint_id)
        if record is None or record.status is not CheckpointStatus.OPEN:
            return False
        self._t.checkpoints[checkpoint_id] = dataclasses.replace(
            record, role=role, due_at=due_at, on_expiry="reject", remind_at=remind_at, reminded=False
        )
        return True

    async def update_open(
        self,
        record: CheckpointRecord,
        *,
        timers: Timers | None = None,
        assignees: list[str] | None = None,
        role: str | None = None,
    ) -> bool:
        current = self._t.checkpoints.get(record.checkpoint_id)
        if current is None or current.status is not CheckpointStatus.OPEN:
            return False
        changes: dict[str, Any] = {}
        if timers is not None:
            changes.update(
                due_at=timers.due_at,
                remind_at=timers.remind_at,
                reminded=timers.reminded,
                escalation_level=timers.escalation_level,
                escalation_base_at=timers.escalation_base_at,
            )
        if assignees is not None:
            changes["assignees"] = list(assignees)
        if role is not None:
            changes["role"] = role
        self._t.checkpoints[record.checkpoint_id] = dataclasses.replace(current, **changes)
        return True

    async def list_page(
        self, query: CheckpointQuery, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[CheckpointRecord]:
        rows = sorted(
            (
                c
                for c in self._t.checkpoints.values()
                if c.organization_slug == query.organization_slug
                and (not query.run_id or c.run_id == query.run_id)
                and (query.status is None or c.status is query.status)
                and (not query.role or c.role == query.role)
                and (not query.assignee or query.assignee in c.assignees)
                and (
                    query.overdue_at is None
                    or (c.status is CheckpointStatus.OPEN and c.due_at is not None and c.due_at < query.overdue_at)
                )
                and (after is None or (c.opened_at, c.checkpoint_id) > after)
            ),
            key=lambda c: (c.opened_at, c.checkpoint_id),
        )
        return rows[:limit]

    async def open_ids_for_run(self, run_id: str) -> list[str]:
        rows = [c for c in self._t.checkpoints.values() if c.run_id == run_id and c.status is CheckpointStatus.OPEN]
        return [c.checkpoint_id for c in sorted(rows, key=lambda c: c.opened_at)]


class FakeVoteRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def insert(self, vote: VoteRecord) -> None:
        if any(v.checkpoint_id == vote.checkpoint_id and v.voter == vote.voter for v in self._t.votes.values()):
            raise AlreadyVoted(vote.name.rsplit("/votes/", 1)[0], vote.voter)
        self._t.votes[vote.vote_id] = vote

    async def for_checkpoints(self, checkpoint_ids: Sequence[str]) -> dict[str, list[VoteRecord]]:
        found: dict[str, list[VoteRecord]] = {cid: [] for cid in checkpoint_ids}
        for vote in sorted(self._t.votes.values(), key=lambda v: (v.created_at, v.vote_id)):
            if vote.checkpoint_id in found:
                found[vote.checkpoint_id].append(vote)
        return found


class FakeRunsUnitOfWork:
    """One transaction on a copy of the database's tables; `commit()` makes the copy the database's state."""

    def __init__(self, database: FakeRunsDatabase) -> None:
        self._db = database

    async def __aenter__(self) -> Self:
        self._tables = copy.deepcopy(self._db.tables)
        self._notified: list[str] = []
        self.runs = FakeRunRepository(self._tables, self._notified)
        self.checkpoints = FakeCheckpointRepository(self._tables)
        self.votes = FakeVoteRepository(self._tables)
        return self

    async def commit(self) -> None:
        self._db.tables = copy.deepcopy(self._tables)
        self._db.notified += self._notified
        self._notified.clear()
        self._db.commits += 1

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None  # what was not committed is dropped with the copy


def _number(run: RunState, now: dt.datetime) -> list[StoredEvent]:
    stored = number_events(run, now)
    run.dirty.clear()
    return stored


def _committed(run: RunState) -> RunState:
    stored = copy.deepcopy(run)
    stored.checkpoints_opened.clear()
    stored.checkpoints_closed.clear()
    return stored


# --- the registry ---------------------------------------------------------------------------------------------------


@dataclass
class FakeRegistry:
    """Definitions by resource name, agents by (organization, slug); every lookup yields to the event loop once,
    so lookups made concurrently are all in flight together (`peak_agent_lookups` counts them)."""

    orchestrations: dict[str, ResolvedDefinition] = field(default_factory=dict)
    plans: dict[str, ResolvedDefinition] = field(default_factory=dict)
    agents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    labels: dict[tuple[str, str], int] = field(default_factory=dict)  # (orchestration, label) → version number
    agent_lookups: list[str] = field(default_factory=list)
    agent_lookups_in_flight: int = 0
    peak_agent_lookups: int = 0

    def add_agent(self, organization_slug: str, slug: str, **config: Any) -> None:
        self.agents[(organization_slug, slug)] = {
            "name": f"organizations/{organization_slug}/agents/{slug}",
            "version": 1,
            "config": config or {"protocol": "a2a"},
            "agent_card": {"name": slug, "url": "http://agent.example/"},
        }

    async def orchestration(self, principal: Principal, name: str, version: int) -> ResolvedDefinition:
        try:
            return self.orchestrations[name]
        except KeyError:
            raise LaunchRejected(f"orchestration {name!r} not found") from None

    async def plan(self, principal: Principal, name: str) -> ResolvedDefinition:
        return self.plans[name]

    async def validate(
        self, principal: Principal, organization_slug: str, definition: Any, templates: list[dict[str, str]]
    ) -> ResolvedDefinition:
        return ResolvedDefinition(dict(definition), templates, "", "")

    async def agent(self, principal: Principal, organization_slug: str, slug: str) -> dict[str, Any] | None:
        self.agent_lookups.append(slug)
        self.agent_lookups_in_flight += 1
        self.peak_agent_lookups = max(self.peak_agent_lookups, self.agent_lookups_in_flight)
        try:
            await asyncio.sleep(0)  # one turn of the loop: lookups started together overlap here
            return self.agents.get((organization_slug, slug)) or self.agents.get(("", slug))
        finally:
            self.agent_lookups_in_flight -= 1

    async def version_number(self, principal: Principal, orchestration: str, label: str) -> int:
        found = self.labels.get((orchestration, label))
        if found is None:
            raise NotFound(f"orchestration {orchestration!r} has no version labelled {label!r}")
        return found
