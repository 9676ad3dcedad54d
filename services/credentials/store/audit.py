"""The append-only audit log."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.credentials.domain.credential import AuditAction, AuditEvent, AuditOutcome, AuditQuery
from services.credentials.store.tables import audit_events

a = audit_events.c


class AuditRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, event: AuditEvent) -> None:
        await self._conn.execute(
            audit_events.insert().values(
                organization_slug=event.organization_slug,
                alias=event.alias,
                version=event.version,
                action=event.action.value,
                outcome=event.outcome.value,
                reason=event.reason,
                actor=event.actor,
                run=event.run,
                step=event.step,
                agent=event.agent,
                destination=event.destination,
                request_id=event.request_id,
                at=event.at,
            )
        )

    async def list_page(self, query: AuditQuery, *, after: int | None, limit: int) -> list[AuditEvent]:
        select = sa.select(audit_events).where(a.organization_slug == query.organization_slug)
        if query.alias:
            select = select.where(a.alias == query.alias)
        if query.action:
            select = select.where(a.action == query.action.value)
        if query.outcome:
            select = select.where(a.outcome == query.outcome.value)
        if query.start:
            select = select.where(a.at >= query.start)
        if query.end:
            select = select.where(a.at < query.end)
        if after is not None:
            select = select.where(a.sequence > after)
        rows = await self._conn.execute(select.order_by(a.sequence).limit(limit))
        return [_to_event(r._mapping) for r in rows]


def _to_event(row: Any) -> AuditEvent:
    return AuditEvent(
        organization_slug=row["organization_slug"],
        alias=row["alias"],
        version=row["version"],
        action=AuditAction(row["action"]),
        outcome=AuditOutcome(row["outcome"]),
        actor=row["actor"],
        request_id=row["request_id"],
        at=utc(row["at"]),
        reason=row["reason"],
        run=row["run"],
        step=row["step"],
        agent=row["agent"],
        destination=row["destination"],
        sequence=row["sequence"],
    )
