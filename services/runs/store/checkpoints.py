"""Checkpoint repository."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.runs.domain.model import CheckpointStatus, NewCheckpoint
from services.runs.domain.records import CheckpointQuery, CheckpointRecord
from services.runs.store.tables import checkpoints

c = checkpoints.c


class SqlCheckpointRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def insert(self, run_id: str, organization_slug: str, new: NewCheckpoint, now: dt.datetime) -> None:
        row = dataclasses.asdict(CheckpointRecord.opened(run_id, organization_slug, new, now))
        row["id"], row["status"] = row.pop("checkpoint_id"), CheckpointStatus.OPEN.value
        row.pop("votes")
        row["reason_codes"] = list(row["reason_codes"])
        await self._conn.execute(checkpoints.insert().values(**row))

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
    ) -> bool:
        """Write the decision if the checkpoint is still open; False if someone decided first."""
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
            )
        )
        return result.rowcount == 1

    async def escalate(self, checkpoint_id: str, role: str, due_at: dt.datetime) -> bool:
        """Hand an open checkpoint to `role` until `due_at`; at the next expiry it is rejected."""
        result = await self._conn.execute(
            checkpoints.update()
            .where(c.id == checkpoint_id, c.status == CheckpointStatus.OPEN.value)
            .values(role=role, due_at=due_at, on_expiry="reject")
        )
        return result.rowcount == 1

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
        if query.assignee:
            select = select.where(self._assigned_to(query.assignee))
        if after:
            select = select.where(sa.tuple_(c.opened_at, c.id) > sa.tuple_(*after))
        rows = await self._conn.execute(select.order_by(c.opened_at, c.id).limit(limit))
        return [_to_record(row._mapping) for row in rows]

    def _assigned_to(self, assignee: str) -> sa.ColumnElement[bool]:
        """`assignees` (a JSON list) contains `assignee`: JSONB containment on PostgreSQL, json_each on SQLite.
        Filtering in SQL keeps pages and page tokens exact however many other checkpoints come first."""
        if self._conn.dialect.name == "postgresql":
            return sa.type_coerce(c.assignees, postgresql.JSONB).contains([assignee])
        each = sa.func.json_each(c.assignees).table_valued("value")
        return sa.select(each.c.value).where(each.c.value == assignee).exists()

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
    )
