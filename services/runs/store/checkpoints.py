"""Checkpoint repository."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.runs.domain import routing
from services.runs.domain.model import CheckpointStatus, NewCheckpoint
from services.runs.domain.records import CheckpointQuery, CheckpointRecord
from services.runs.domain.routing import EscalationLevel, Timers
from services.runs.store.tables import checkpoint_assignees, checkpoints, runs

c = checkpoints.c
a = checkpoint_assignees.c
# The due-time sort key of a checkpoint without a due time: after every real one.
NO_DUE_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


class SqlCheckpointRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def insert(self, run_id: str, organization_slug: str, new: NewCheckpoint, now: dt.datetime) -> None:
        record = CheckpointRecord.opened(run_id, organization_slug, new, now)
        row = dataclasses.asdict(record)
        row["id"], row["status"] = row.pop("checkpoint_id"), CheckpointStatus.OPEN.value
        row.pop("votes")
        row["reason_codes"] = list(row["reason_codes"])
        row["escalation"] = [level.as_dict() for level in record.escalation]
        row["due_sort_at"] = record.due_at or NO_DUE_TIME
        # The run's orchestration, for the inbox filter (the run row is locked by this transaction).
        row["orchestration"] = sa.select(runs.c.orchestration).where(runs.c.id == run_id).scalar_subquery()
        await self._conn.execute(checkpoints.insert().values(**row))
        await self._set_assignees(record.checkpoint_id, organization_slug, record.assignees)

    async def _set_assignees(self, checkpoint_id: str, organization_slug: str, assignees: list[str]) -> None:
        await self._conn.execute(checkpoint_assignees.delete().where(a.checkpoint_id == checkpoint_id))
        rows = [
            {"checkpoint_id": checkpoint_id, "organization_slug": organization_slug, "assignee": name}
            for name in dict.fromkeys(routing.normalize(x) for x in assignees)
        ]
        if rows:
            await self._conn.execute(checkpoint_assignees.insert(), rows)

    async def get(self, checkpoint_id: str) -> CheckpointRecord | None:
        row = (await self._conn.execute(sa.select(checkpoints).where(c.id == checkpoint_id))).first()
        return _to_record(row._mapping) if row else None

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
        result = await self._conn.execute(
            checkpoints.update()
            .where(c.id == checkpoint_id, c.status == CheckpointStatus.OPEN.value)
            .values(
                status=status.value,
                decision=decision,
                comment=comment,
                payload=payload,
                decided_by=decided_by,
                decided_at=now,
                reason_code=reason_code,
                override=override_justification is not None,
                override_justification=override_justification or "",
            )
        )
        return result.rowcount == 1

    async def escalate(
        self, checkpoint_id: str, role: str, due_at: dt.datetime, remind_at: dt.datetime | None = None
    ) -> bool:
        """Hand an open checkpoint to `role` until `due_at`; at the next expiry it is rejected (on_expiry escalate,
        the single-level form kept as it was; its reminder moves with the new due time)."""
        result = await self._conn.execute(
            checkpoints.update()
            .where(c.id == checkpoint_id, c.status == CheckpointStatus.OPEN.value)
            .values(
                role=role,
                due_at=due_at,
                due_sort_at=due_at,
                on_expiry="reject",
                remind_at=remind_at,
                reminded=False,
            )
        )
        return result.rowcount == 1

    # --- routing and escalation (issue 14, i14-routing) ---------------------------------------------------------

    async def update_open(
        self,
        record: CheckpointRecord,
        *,
        timers: Timers | None = None,
        assignees: list[str] | None = None,
        role: str | None = None,
    ) -> bool:
        """Change an open checkpoint's timers, assignees or role; False if it is no longer open."""
        values: dict[str, Any] = {}
        if timers is not None:
            values.update(
                due_at=timers.due_at,
                due_sort_at=timers.due_at or NO_DUE_TIME,
                remind_at=timers.remind_at,
                reminded=timers.reminded,
                escalation_level=timers.escalation_level,
                escalation_base_at=timers.escalation_base_at,
            )
        if assignees is not None:
            values["assignees"] = assignees
        if role is not None:
            values["role"] = role
        result = await self._conn.execute(
            checkpoints.update()
            .where(c.id == record.checkpoint_id, c.status == CheckpointStatus.OPEN.value)
            .values(**values)
        )
        if result.rowcount != 1:
            return False
        if assignees is not None:
            await self._set_assignees(record.checkpoint_id, record.organization_slug, assignees)
        return True

    async def list_page(
        self, query: CheckpointQuery, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[CheckpointRecord]:
        select = sa.select(checkpoints).where(c.organization_slug == query.organization_slug)
        if query.run_id:
            select = select.where(c.run_id == query.run_id)
        if query.status:
            select = select.where(c.status == query.status.value)
        if query.role:
            select = select.where(c.role == query.role)
        if query.overdue_at:
            select = select.where(c.status == CheckpointStatus.OPEN.value, c.due_at < query.overdue_at)
        # Each assignee filter is an indexed lookup in checkpoint_assignees (normalized rows), so pages and page tokens
        # stay exact however many other checkpoints come first, and nothing scans the JSON lists.
        for names in ([routing.normalize(query.assignee)] if query.assignee else [], list(query.assigned_to)):
            if names:
                select = select.where(c.id.in_(self._assigned(query.organization_slug, names)))
        if query.group:
            select = select.where(c.id.in_(self._assigned(query.organization_slug, [query.group])))
        if query.due_before:
            select = select.where(c.due_at < query.due_before)
        if query.orchestration:
            select = select.where(c.orchestration == query.orchestration)
        key = (c.due_sort_at, c.id) if query.order_by_due else (c.opened_at, c.id)
        if after:
            select = select.where(sa.tuple_(*key) > sa.tuple_(*after))
        rows = await self._conn.execute(select.order_by(*key).limit(limit))
        return [_to_record(row._mapping) for row in rows]

    def _assigned(self, organization_slug: str, names: list[str]) -> sa.Select[tuple[str]]:
        return sa.select(a.checkpoint_id).where(a.organization_slug == organization_slug, a.assignee.in_(names))

    async def open_ids_for_run(self, run_id: str) -> list[str]:
        query = sa.select(c.id).where(c.run_id == run_id, c.status == CheckpointStatus.OPEN.value).order_by(c.opened_at)
        return list((await self._conn.execute(query)).scalars())


def _to_record(row: Any) -> CheckpointRecord:
    return CheckpointRecord(
        checkpoint_id=row["id"],
        run_id=row["run_id"],
        organization_slug=row["organization_slug"],
        step_id=row["step_id"],
        title=row["title"],
        context=row["context"],
        deliverables=list(row["deliverables"]),
        assignees=list(row["assignees"]),
        role=row["role"],
        status=CheckpointStatus(row["status"]),
        on_expiry=row["on_expiry"],
        opened_at=utc(row["opened_at"]),
        due_at=utc(row["due_at"]) if row["due_at"] is not None else None,
        decision=row["decision"],
        comment=row["comment"],
        payload=dict(row["payload"]),
        decided_by=row["decided_by"],
        decided_at=utc(row["decided_at"]) if row["decided_at"] is not None else None,
        revision=row["revision"],
        approvals_required=row["approvals_required"],
        forbid_self_approval=bool(row["forbid_self_approval"]),
        reason_codes=tuple(row["reason_codes"]),
        reason_code=row["reason_code"],
        orchestration=row["orchestration"],
        remind_before_seconds=row["remind_before_seconds"],
        remind_at=_maybe_utc(row["remind_at"]),
        reminded=bool(row["reminded"]),
        escalation=tuple(EscalationLevel.from_dict(level) for level in row["escalation"] or ()),
        escalation_level=row["escalation_level"],
        escalation_base_at=_maybe_utc(row["escalation_base_at"]),
        override=bool(row["override"]),
        override_justification=row["override_justification"],
    )


def _maybe_utc(moment: dt.datetime | None) -> dt.datetime | None:
    return utc(moment) if moment is not None else None
