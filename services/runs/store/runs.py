"""Run repository: loads a run with its steps for one transition, and writes back what changed with its events.

Every transition of a run holds the run's row lock (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite every
transaction is already exclusive), so transitions of one run are serialised and the per-run event sequence has no
gaps, while different runs progress in parallel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.runs.domain.definition import read_definition
from services.runs.domain.model import OriginType, RunState, RunStatus, StepState, StepStatus
from services.runs.store.tables import checkpoints, run_events, run_steps, runs

r, s, e = runs.c, run_steps.c, run_events.c


class DuplicateRequest(Exception):
    """A run with this (organization, request_id) exists already."""


@dataclass(frozen=True)
class RunRecord:
    """What a run was launched with (immutable), next to its state."""

    origin_type: OriginType
    origin: str
    orchestration: str
    definition: dict[str, Any]
    prompt_templates: list[dict[str, str]]
    agents: dict[str, Any]
    metadata: dict[str, Any]
    request_id: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class StoredEvent:
    run_id: str
    organization_slug: str
    sequence: int
    type: str
    step_id: str
    data: dict[str, Any]
    run_status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DueStep:
    run_id: str
    step_id: str
    status: StepStatus


class RunRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def insert(self, run: RunState, record: RunRecord, now: dt.datetime) -> list[StoredEvent]:
        try:
            await self._conn.execute(
                runs.insert().values(
                    id=run.run_id,
                    organization_slug=run.organization_slug,
                    origin_type=record.origin_type.value,
                    origin=record.origin,
                    orchestration=record.orchestration,
                    definition=record.definition,
                    prompt_templates=record.prompt_templates,
                    agents=record.agents,
                    prompt_inputs=run.inputs,
                    metadata=record.metadata,
                    status=run.status.value,
                    status_reason=run.status_reason,
                    current_phase=run.current_phase,
                    last_sequence=0,
                    request_id=record.request_id,
                    created_by=record.created_by,
                    created_at=now,
                    started_at=run.started_at,
                    ended_at=run.ended_at,
                    updated_at=now,
                )
            )
        except IntegrityError:
            raise DuplicateRequest from None
        await self._conn.execute(
            run_steps.insert(),
            [
                {
                    "run_id": run.run_id,
                    "position": position,
                    "checkpoint_id": "",
                    "lease_owner": "",
                    "error": "",
                    **_step_columns(run.steps[spec.id]),
                }
                for position, spec in enumerate(run.spec.steps)
            ],
        )
        run.dirty.clear()
        run.run_dirty = False
        return await self._append_events(run, now)

    async def load(self, run_id: str, *, lock: bool = True, skip_locked: bool = False) -> RunState | None:
        query = sa.select(runs).where(r.id == run_id)
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        step_rows = await self._conn.execute(sa.select(run_steps).where(s.run_id == run_id))
        return _to_state(row._mapping, {x.step_id: _to_step(x._mapping) for x in step_rows})

    async def record(self, run_id: str) -> RunRecord | None:
        row = (await self._conn.execute(sa.select(runs).where(r.id == run_id))).first()
        return _to_record(row._mapping) if row else None

    async def find_by_request(self, organization_slug: str, request_id: str) -> str | None:
        query = sa.select(r.id).where(r.organization_slug == organization_slug, r.request_id == request_id)
        return (await self._conn.execute(query)).scalar_one_or_none()

    async def save(self, run: RunState, now: dt.datetime) -> list[StoredEvent]:
        """Write the changed steps, the run row and the new events; returns the events with their sequence."""
        for step_id in sorted(run.dirty):
            columns = _step_columns(run.steps[step_id])
            columns.pop("step_id")
            await self._conn.execute(
                run_steps.update().where(s.run_id == run.run_id, s.step_id == step_id).values(**columns)
            )
        run.dirty.clear()
        for checkpoint_id, status in run.checkpoints_closed:
            await self._conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == checkpoint_id, checkpoints.c.status == "open")
                .values(status=status)
            )
        run.checkpoints_closed.clear()
        return await self._append_events(run, now)

    async def _append_events(self, run: RunState, now: dt.datetime) -> list[StoredEvent]:
        stored = [
            StoredEvent(
                run.run_id,
                run.organization_slug,
                run.last_sequence + i,
                event.type.value,
                event.step_id,
                event.data,
                run.status.value,
                now,
            )
            for i, event in enumerate(run.events, start=1)
        ]
        if stored:
            await self._conn.execute(
                run_events.insert(),
                [
                    {
                        "run_id": ev.run_id,
                        "sequence": ev.sequence,
                        "type": ev.type,
                        "step_id": ev.step_id,
                        "data": ev.data,
                        "run_status": ev.run_status,
                        "created_at": now,
                    }
                    for ev in stored
                ],
            )
            run.last_sequence = stored[-1].sequence
        run.events.clear()
        await self._conn.execute(
            runs.update()
            .where(r.id == run.run_id)
            .values(
                status=run.status.value,
                status_reason=run.status_reason,
                current_phase=run.current_phase,
                last_sequence=run.last_sequence,
                started_at=run.started_at,
                ended_at=run.ended_at,
                updated_at=now,
            )
        )
        run.run_dirty = False
        return stored

    # --- work finding -----------------------------------------------------------------------------------------------

    async def due(self, now: dt.datetime, limit: int) -> list[DueStep]:
        """Steps whose due time has come: ready to start, lease expired, or checkpoint expired."""
        query = sa.select(s.run_id, s.step_id, s.status).where(s.due_at <= now).order_by(s.due_at).limit(limit)
        return [DueStep(row.run_id, row.step_id, StepStatus(row.status)) for row in await self._conn.execute(query)]

    async def next_due_at(self) -> dt.datetime | None:
        value = (await self._conn.execute(sa.select(sa.func.min(s.due_at)))).scalar_one_or_none()
        return utc(value) if value is not None else None

    async def renew_leases(self, worker: str, until: dt.datetime) -> int:
        result = await self._conn.execute(
            run_steps.update().where(s.lease_owner == worker, s.status == StepStatus.RUNNING.value).values(due_at=until)
        )
        return int(result.rowcount or 0)

    # --- reads ------------------------------------------------------------------------------------------------------

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
    ) -> list[str]:
        query = sa.select(r.id, r.created_at).where(r.organization_slug == organization_slug)
        if status:
            query = query.where(r.status == status.value)
        if orchestration:
            query = query.where(r.orchestration == orchestration)
        if origin_type:
            query = query.where(r.origin_type == origin_type.value)
        if start:
            query = query.where(r.created_at >= start)
        if end:
            query = query.where(r.created_at < end)
        if before:
            query = query.where(sa.tuple_(r.created_at, r.id) < sa.tuple_(*before))
        rows = await self._conn.execute(query.order_by(r.created_at.desc(), r.id.desc()).limit(limit))
        return [row.id for row in rows]

    async def events(self, run_id: str, *, after: int, limit: int) -> list[StoredEvent]:
        org = (await self._conn.execute(sa.select(r.organization_slug).where(r.id == run_id))).scalar_one_or_none()
        query = sa.select(run_events).where(e.run_id == run_id, e.sequence > after).order_by(e.sequence).limit(limit)
        return [
            StoredEvent(
                row.run_id,
                org or "",
                row.sequence,
                row.type,
                row.step_id,
                row.data,
                row.run_status,
                utc(row.created_at),
            )
            for row in await self._conn.execute(query)
        ]

    async def created_at(self, run_id: str) -> dt.datetime | None:
        value = (await self._conn.execute(sa.select(r.created_at).where(r.id == run_id))).scalar_one_or_none()
        return utc(value) if value is not None else None

    async def organization_of(self, run_id: str) -> str | None:
        query = sa.select(r.organization_slug).where(r.id == run_id)
        return (await self._conn.execute(query)).scalar_one_or_none()

    async def delete_finished_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Retention: delete runs that ended before `cutoff` (their steps, events and checkpoints cascade)."""
        ids = list((await self._conn.execute(sa.select(r.id).where(r.ended_at < cutoff).limit(limit))).scalars())
        if not ids:
            return 0
        for table in (run_events, run_steps, checkpoints):
            await self._conn.execute(table.delete().where(table.c.run_id.in_(ids)))
        result = await self._conn.execute(runs.delete().where(r.id.in_(ids)))
        return int(result.rowcount or 0)


def _step_columns(state: StepState) -> dict[str, Any]:
    return {
        "step_id": state.step_id,
        "status": state.status.value,
        "attempt": state.attempt,
        "output": state.output,
        "error": state.error,
        "due_at": state.due_at,
        "lease_owner": state.lease_owner,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "checkpoint_id": state.checkpoint_id,
    }


def _opt(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


def _to_step(row: Any) -> StepState:
    return StepState(
        step_id=row["step_id"],
        status=StepStatus(row["status"]),
        attempt=row["attempt"],
        output=row["output"],
        error=row["error"],
        due_at=_opt(row["due_at"]),
        lease_owner=row["lease_owner"],
        started_at=_opt(row["started_at"]),
        finished_at=_opt(row["finished_at"]),
        checkpoint_id=row["checkpoint_id"],
    )


def _to_state(row: Any, steps: dict[str, StepState]) -> RunState:
    templates = [(t["name"], t["template"]) for t in row["prompt_templates"]]
    return RunState(
        run_id=row["id"],
        organization_slug=row["organization_slug"],
        spec=read_definition(row["definition"], templates),
        status=RunStatus(row["status"]),
        inputs=row["prompt_inputs"],
        steps=steps,
        last_sequence=row["last_sequence"],
        status_reason=row["status_reason"],
        started_at=_opt(row["started_at"]),
        ended_at=_opt(row["ended_at"]),
        current_phase=row["current_phase"],
    )


def _to_record(row: Any) -> RunRecord:
    return RunRecord(
        origin_type=OriginType(row["origin_type"]),
        origin=row["origin"],
        orchestration=row["orchestration"],
        definition=row["definition"],
        prompt_templates=row["prompt_templates"],
        agents=row["agents"],
        metadata=row["metadata"],
        request_id=row["request_id"],
        created_by=row["created_by"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
