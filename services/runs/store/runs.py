"""Run repository: loads a run with its steps for one transition, and writes back what changed with its events.

Every transition of a run holds the run's row lock (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite every
transaction is already exclusive), so transitions of one run are serialised and the per-run event sequence has no
gaps, while different runs progress in parallel.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc, utcnow
from services.runs.app.unit_of_work import DuplicateRequest, Notify
from services.runs.domain.definition import read_definition
from services.runs.domain.model import EventType, OriginType, RunState, RunStatus, StepState, StepStatus
from services.runs.domain.records import RunRecord, StoredEvent, number_events
from services.runs.store import pg_batch
from services.runs.store.pinned import Pinned, PinnedCache
from services.runs.store.tables import checkpoints, run_events, run_steps, runs

r, s, e = runs.c, run_steps.c, run_events.c

# The mutable part of a run (what a transition reads under the row lock) and the pinned part (read on a cache miss).
_STATE_COLUMNS = (
    r.id,
    r.organization_slug,
    r.status,
    r.status_reason,
    r.current_phase,
    r.last_sequence,
    r.started_at,
    r.ended_at,
)
_PINNED_COLUMNS = (
    r.id,
    r.organization_slug,
    r.definition,
    r.prompt_templates,
    r.prompt_inputs,
    r.agents,
    r.forbid_self_approval,
)
# executemany statements: the SET clause comes from the parameter keys, the row from the b_* keys.
_UPDATE_STEP = run_steps.update().where(s.run_id == sa.bindparam("b_run_id"), s.step_id == sa.bindparam("b_step_id"))
_UPDATE_RUN = runs.update().where(r.id == sa.bindparam("b_id"))
_NOTIFY_EACH = sa.text("SELECT pg_notify(:channel, payload) FROM unnest(:payloads) AS payload").bindparams(
    sa.bindparam("channel", type_=sa.Text), sa.bindparam("payloads", type_=postgresql.ARRAY(sa.Text))
)
_CLOSE_CHECKPOINT = checkpoints.update().where(checkpoints.c.id == sa.bindparam("b_id"), checkpoints.c.status == "open")


NOTIFY_CHANNEL = "agentorch_runs"


class SqlRunRepository:
    """Loads and saves runs for transitions, several at once where the engine batches them.

    A transition touches a run's mutable columns only: the pinned part (definition, inputs, agents) comes from the
    replica's `PinnedCache` and is read from the row only on a miss, so the hot path neither transfers nor parses
    the definition. Writes are batched per transaction: one executemany per table, whatever the number of runs.
    """

    def __init__(self, connection: AsyncConnection, pinned: PinnedCache | None = None) -> None:
        self._conn = connection
        self._pinned = pinned if pinned is not None else PinnedCache(0)
        self._postgresql = connection.dialect.name == "postgresql"

    async def insert(
        self, run: RunState, record: RunRecord, now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        """A new run with its steps and first events (DuplicateRequest if its request_id was seen), announced
        with `notify`'s payloads at commit."""
        stored = number_events(run, now)
        try:
            if self._postgresql:
                await self._insert_pg(run, record, stored, now, notify)
            else:
                await self._insert_portable(run, record, stored, now, notify)
        except IntegrityError:
            raise DuplicateRequest from None
        run.dirty.clear()
        self._remember(run)
        return stored

    async def _insert_pg(
        self, run: RunState, record: RunRecord, stored: Sequence[StoredEvent], now: dt.datetime, notify: Notify | None
    ) -> None:
        steps, events = pg_batch.Columns(4), pg_batch.Columns(5)
        for position, spec in enumerate(run.spec.steps):
            state = run.steps[spec.id]
            steps.add(spec.id, position, state.status.value, state.due_at)
        for ev in stored:
            events.add(ev.sequence, ev.type, ev.step_id, pg_batch.jsonb(ev.data), ev.run_status)
        payloads = list(notify(stored)) if notify else []
        row = (
            run.organization_slug,
            record.origin_type.value,
            record.origin,
            record.orchestration,
            json.dumps(record.definition),
            json.dumps(record.prompt_templates),
            json.dumps(record.agents),
            json.dumps(run.inputs),
            json.dumps(record.metadata),
            run.status.value,
            run.status_reason,
            run.current_phase,
            run.last_sequence,
            record.request_id,
            record.created_by,
            run.started_at,
            run.ended_at,
            record.request_fingerprint,
            run.forbid_self_approval,
        )
        params = (run.run_id, *steps.arrays, now, *events.arrays, NOTIFY_CHANNEL, payloads, *row)
        await self._conn.exec_driver_sql(pg_batch.INSERT_RUN, params)

    async def _insert_portable(
        self, run: RunState, record: RunRecord, stored: Sequence[StoredEvent], now: dt.datetime, notify: Notify | None
    ) -> None:
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
                last_sequence=run.last_sequence,
                request_id=record.request_id,
                request_fingerprint=record.request_fingerprint,
                created_by=record.created_by,
                forbid_self_approval=run.forbid_self_approval,
                created_at=now,
                started_at=run.started_at,
                ended_at=run.ended_at,
                updated_at=now,
            )
        )
        await self._insert_steps_and_events(run, stored, notify)

    async def _insert_steps_and_events(
        self, run: RunState, stored: Sequence[StoredEvent], notify: Notify | None
    ) -> None:
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
        await self._insert_events(stored)
        await self._notify(stored, notify)

    async def load(self, run_id: str, *, lock: bool = True, skip_locked: bool = False) -> RunState | None:
        return (await self.load_many([run_id], lock=lock, skip_locked=skip_locked)).get(run_id)

    async def load_many(
        self, run_ids: Sequence[str], *, lock: bool = True, skip_locked: bool = False
    ) -> dict[str, RunState]:
        """The runs (with their steps) among `run_ids` that exist — and, with skip_locked, that no other
        transaction holds; with `lock`, their rows stay locked until this transaction ends."""
        if not run_ids:
            return {}
        if self._postgresql and lock:
            return await self._load_many_pg(run_ids, skip_locked)
        query = sa.select(*_STATE_COLUMNS).where(self._among(r.id, run_ids)).order_by(r.id)
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        rows = (await self._conn.execute(query)).all()
        if not rows:
            return {}
        found = [row.id for row in rows]
        pinned = await self._pinned_for(found)
        steps: dict[str, dict[str, StepState]] = {run_id: {} for run_id in found}
        for step_row in await self._conn.execute(sa.select(run_steps).where(self._among(s.run_id, found))):
            steps[step_row.run_id][step_row.step_id] = _to_step(step_row._mapping)
        return {row.id: _to_state(row._mapping, pinned[row.id], steps[row.id]) for row in rows}

    async def claim_due(self, now: dt.datetime, limit: int) -> dict[str, RunState]:
        """Lock the runs that have one of the first `limit` due steps (skipping runs another transaction holds)
        and load them with their steps."""
        if self._postgresql:
            heads = (await self._conn.exec_driver_sql(pg_batch.LOCK_DUE, (now, limit))).all()
            return await self._states_pg(heads)
        query = sa.select(s.run_id).where(s.due_at <= now).order_by(s.due_at).limit(limit)
        run_ids = list(dict.fromkeys((await self._conn.execute(query)).scalars()))
        return await self.load_many(run_ids, skip_locked=True)  # SQLite: this transaction is the only writer

    async def _load_many_pg(self, run_ids: Sequence[str], skip_locked: bool) -> dict[str, RunState]:
        statement = pg_batch.LOCK_SKIP_LOCKED if skip_locked else pg_batch.LOCK
        return await self._states_pg((await self._conn.exec_driver_sql(statement, (list(run_ids),))).all())

    async def _states_pg(self, heads: Sequence[Any]) -> dict[str, RunState]:
        """The locked runs (rows of a LOCK statement) with their steps, read now that the locks are held."""
        if not heads:
            return {}
        found = [row[0] for row in heads]
        steps: dict[str, dict[str, StepState]] = {run_id: {} for run_id in found}
        rows: Sequence[Any] = (await self._conn.exec_driver_sql(pg_batch.STEPS, (found,))).all()
        for row in rows:
            steps[row[0]][row[1]] = pg_batch.step_from(row)
        pinned = await self._pinned_for(found)
        return {row[0]: _to_state(row._mapping, pinned[row[0]], steps[row[0]]) for row in heads}

    async def load_view(self, run_id: str) -> tuple[RunState, RunRecord] | None:
        """A run with everything it was launched with, for reading (no lock)."""
        row = (await self._conn.execute(sa.select(runs).where(r.id == run_id))).first()
        if row is None:
            return None
        record = _to_record(row._mapping)
        pinned = self._pinned.get(run_id) or _pin(row._mapping)
        step_rows = await self._conn.execute(sa.select(run_steps).where(s.run_id == run_id))
        return _to_state(row._mapping, pinned, {x.step_id: _to_step(x._mapping) for x in step_rows}), record

    async def find_by_request(self, organization_slug: str, request_id: str) -> tuple[str, str] | None:
        """The run launched with `request_id` and the fingerprint of its launch request ("" before 0006)."""
        query = sa.select(r.id, r.request_fingerprint).where(
            r.organization_slug == organization_slug, r.request_id == request_id
        )
        row = (await self._conn.execute(query)).first()
        return (row.id, row.request_fingerprint) if row is not None else None

    async def interventions(self, run_id: str) -> list[StoredEvent]:
        """The run's OPERATOR_INTERVENTION events, in order (what `operator_interventions` shows)."""
        query = (
            sa.select(run_events)
            .where(e.run_id == run_id, e.type == EventType.OPERATOR_INTERVENTION.value)
            .order_by(e.sequence)
        )
        return [
            StoredEvent(
                row.run_id, "", row.sequence, row.type, row.step_id, row.data, row.run_status, utc(row.created_at)
            )
            for row in await self._conn.execute(query)
        ]

    async def save_many(
        self, states: Sequence[RunState], now: dt.datetime, notify: Notify | None = None
    ) -> list[StoredEvent]:
        """Write the changed steps, the run rows and the new events of every run (one statement in all on
        PostgreSQL, one per table elsewhere), announced with `notify`'s payloads at commit; returns the events
        with their sequence numbers."""
        if self._postgresql:
            return await self._save_many_pg(states, now, notify)
        step_rows: list[dict[str, Any]] = []
        closed: list[dict[str, Any]] = []
        run_rows: list[dict[str, Any]] = []
        stored: list[StoredEvent] = []
        written = utcnow()  # the events' time: when they are written, right before the commit
        for run in states:
            for step_id in sorted(run.dirty):
                columns = _step_columns(run.steps[step_id])
                columns["b_run_id"], columns["b_step_id"] = run.run_id, columns.pop("step_id")
                step_rows.append(columns)
            run.dirty.clear()
            closed += [{"b_id": cid, "status": status} for cid, status in run.checkpoints_closed]
            run.checkpoints_closed.clear()
            stored += number_events(run, written)
            run_rows.append(_run_columns(run, now))
            self._remember(run)
        if step_rows:
            await self._conn.execute(_UPDATE_STEP, step_rows)
        if closed:
            await self._conn.execute(_CLOSE_CHECKPOINT, closed)
        await self._insert_events(stored)
        if run_rows:
            await self._conn.execute(_UPDATE_RUN, run_rows)
        await self._notify(stored, notify)
        return stored

    async def _save_many_pg(
        self, states: Sequence[RunState], now: dt.datetime, notify: Notify | None
    ) -> list[StoredEvent]:
        stored: list[StoredEvent] = []
        written = utcnow()  # the events' time: when they are written, right before the commit
        for run in states:
            stored += number_events(run, written)
        events = pg_batch.Columns(7)
        for ev in stored:
            events.add(ev.run_id, ev.sequence, ev.type, ev.step_id, pg_batch.jsonb(ev.data), ev.run_status, written)
        payloads = list(notify(stored)) if notify else []
        await pg_batch.write(self._conn, states, events, now, NOTIFY_CHANNEL, payloads)
        for run in states:
            run.dirty.clear()
            run.checkpoints_closed.clear()
            self._remember(run)
        return stored

    async def _notify(self, stored: Sequence[StoredEvent], notify: Notify | None) -> None:
        payloads = list(notify(stored)) if notify and stored else []
        if payloads:
            await self._conn.execute(_NOTIFY_EACH, {"channel": NOTIFY_CHANNEL, "payloads": payloads})

    def _remember(self, run: RunState) -> None:
        """Keep the pinned part of an active run; forget it once the run waits or ends (see pinned.py)."""
        if run.status.final or run.status is RunStatus.PAUSED:
            self._pinned.discard(run.run_id)
        elif self._pinned.get(run.run_id) is None:
            self._pinned.put(
                run.run_id, Pinned(run.organization_slug, run.spec, run.inputs, run.agents, run.forbid_self_approval)
            )

    async def _pinned_for(self, run_ids: Sequence[str]) -> dict[str, Pinned]:
        found: dict[str, Pinned] = {}
        misses: list[str] = []
        for run_id in run_ids:
            entry = self._pinned.get(run_id)
            if entry is None:
                misses.append(run_id)
            else:
                found[run_id] = entry
        if misses:
            query = sa.select(*_PINNED_COLUMNS).where(self._among(r.id, misses))
            for row in await self._conn.execute(query):
                entry = _pin(row._mapping)
                found[row.id] = entry
                self._pinned.put(row.id, entry)
        return found

    async def _insert_events(self, stored: Sequence[StoredEvent]) -> None:
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
                        "created_at": ev.created_at,
                    }
                    for ev in stored
                ],
            )

    def _among(self, column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
        """`column IN values`: one array parameter on PostgreSQL (one prepared statement for any count)."""
        if self._postgresql:
            return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.String)))
        return column.in_(list(values))

    # --- work finding -----------------------------------------------------------------------------------------------

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
        origin: str = "",
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
        if origin:  # one pinned version: `.../orchestrations/{slug}/versions/{n}`
            query = query.where(r.origin == origin)
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

    async def events(
        self, run_id: str, *, after: int, limit: int, organization_slug: str | None = None
    ) -> list[StoredEvent]:
        """Events after `after`, in order; the run's organization is read unless the caller knows it."""
        org = organization_slug
        if org is None:
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

    async def latest_sequences(
        self, run_ids: Sequence[str], organizations: Sequence[str], since: dt.datetime
    ) -> list[tuple[str, str, int, str]]:
        """(run, organization, last sequence, status) of the given runs, and of the organizations' runs changed
        since `since`: what a replica re-announces to its watchers after its LISTEN connection was lost."""
        found: dict[str, tuple[str, str, int, str]] = {}
        columns = (r.id, r.organization_slug, r.last_sequence, r.status)
        queries = []
        if run_ids:
            queries.append(sa.select(*columns).where(self._among(r.id, run_ids)))
        if organizations:
            queries.append(
                sa.select(*columns).where(self._among(r.organization_slug, organizations), r.updated_at >= since)
            )
        for query in queries:
            for row in await self._conn.execute(query):
                found[row.id] = (row.id, row.organization_slug, int(row.last_sequence), row.status)
        return list(found.values())

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
        "retry_base": state.retry_base,
        "revision": state.revision,
        "agent_context": state.agent_context,
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
        retry_base=row["retry_base"],
        revision=row["revision"],
        agent_context=row["agent_context"],
    )


def _to_state(row: Any, pinned: Pinned, steps: dict[str, StepState]) -> RunState:
    return RunState(
        run_id=row["id"],
        organization_slug=row["organization_slug"],
        spec=pinned.spec,
        status=RunStatus(row["status"]),
        inputs=pinned.inputs,
        steps=steps,
        last_sequence=row["last_sequence"],
        status_reason=row["status_reason"],
        started_at=_opt(row["started_at"]),
        ended_at=_opt(row["ended_at"]),
        current_phase=row["current_phase"],
        agents=pinned.agents,
        forbid_self_approval=pinned.forbid_self_approval,
    )


def _pin(row: Any) -> Pinned:
    templates = [(t["name"], t["template"]) for t in row["prompt_templates"]]
    return Pinned(
        organization_slug=row["organization_slug"],
        spec=read_definition(row["definition"], templates),
        inputs=row["prompt_inputs"],
        agents=row["agents"],
        forbid_self_approval=bool(row["forbid_self_approval"]),
    )


def _run_columns(run: RunState, now: dt.datetime) -> dict[str, Any]:
    return {
        "b_id": run.run_id,
        "status": run.status.value,
        "status_reason": run.status_reason,
        "current_phase": run.current_phase,
        "last_sequence": run.last_sequence,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "updated_at": now,
    }


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
        request_fingerprint=row["request_fingerprint"],
        created_by=row["created_by"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
