"""Conversation plan repository (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.common.errors import EtagMismatch
from services.registry.domain.plan import Plan, PlanName, PlanStatus
from services.registry.store.tables import conversation_plans


@dataclass(frozen=True)
class PlanFilter:
    conversation_id: str = ""
    agent_slug: str = ""
    status: PlanStatus | None = None


class PlanRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, plan: Plan) -> None:
        await self._conn.execute(
            conversation_plans.insert().values(
                id=plan.name.plan_id,
                organization_slug=plan.name.organization_slug,
                conversation_id=plan.conversation_id,
                agent_slug=plan.agent_slug,
                plan=plan.document,
                status=plan.status.value,
                revision=plan.revision,
                created_by=plan.created_by,
                created_at=plan.created_at,
                updated_at=plan.updated_at,
                decided_by=plan.decided_by or None,
                decided_at=plan.decided_at,
                decision_comment=plan.decision_comment or None,
            )
        )

    async def get(self, name: PlanName, *, for_update: bool = False) -> Plan | None:
        c = conversation_plans.c
        query = sa.select(conversation_plans).where(c.id == name.plan_id, c.organization_slug == name.organization_slug)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_plan(row._mapping) if row else None

    async def lock_conversation(self, organization_slug: str, conversation_id: str) -> None:
        """Serialize plan creation within a conversation until the transaction ends, so that two plans created at
        once cannot both stay drafts. SQLite transactions already run one at a time (BEGIN IMMEDIATE)."""
        if self._conn.dialect.name != "postgresql":
            return
        digest = hashlib.sha256(f"plans\x1f{organization_slug}\x1f{conversation_id}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        await self._conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    async def supersede_drafts(
        self, organization_slug: str, conversation_id: str, *, keep: str, now: dt.datetime
    ) -> int:
        """Mark the drafts of a conversation superseded, except plan `keep`; returns how many changed."""
        c = conversation_plans.c
        result = await self._conn.execute(
            conversation_plans.update()
            .where(
                c.organization_slug == organization_slug,
                c.conversation_id == conversation_id,
                c.status == PlanStatus.DRAFT.value,
                c.id != keep,
            )
            .values(status=PlanStatus.SUPERSEDED.value, revision=c.revision + 1, updated_at=now)
        )
        return int(result.rowcount)

    async def decide(self, plan: Plan, *, expected_revision: int) -> None:
        """Write a decision (revision already bumped) on a plan that is still a draft at `expected_revision`."""
        c = conversation_plans.c
        result = await self._conn.execute(
            conversation_plans.update()
            .where(
                c.id == plan.name.plan_id,
                c.revision == expected_revision,
                c.status == PlanStatus.DRAFT.value,
            )
            .values(
                status=plan.status.value,
                revision=plan.revision,
                updated_at=plan.updated_at,
                decided_by=plan.decided_by,
                decided_at=plan.decided_at,
                decision_comment=plan.decision_comment,
            )
        )
        if result.rowcount != 1:
            raise EtagMismatch(f"plan {plan.name} has changed since it was read; re-read it and retry")

    async def list(
        self,
        organization_slug: str,
        criteria: PlanFilter,
        *,
        before: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> list[Plan]:
        """Plans newest first (creation time, then id, both descending); `before` is the last key of the page."""
        c = conversation_plans.c
        query = sa.select(conversation_plans).where(c.organization_slug == organization_slug)
        if criteria.conversation_id:
            query = query.where(c.conversation_id == criteria.conversation_id)
        if criteria.agent_slug:
            query = query.where(c.agent_slug == criteria.agent_slug)
        if criteria.status is not None:
            query = query.where(c.status == criteria.status.value)
        if before is not None:
            created_at, plan_id = before
            query = query.where(sa.or_(c.created_at < created_at, sa.and_(c.created_at == created_at, c.id < plan_id)))
        rows = await self._conn.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        return [_to_plan(row._mapping) for row in rows]


def _to_plan(row: Any) -> Plan:
    return Plan(
        name=PlanName(row["organization_slug"], row["id"]),
        conversation_id=row["conversation_id"],
        agent_slug=row["agent_slug"],
        document=row["plan"],
        status=PlanStatus(row["status"]),
        revision=row["revision"],
        created_by=row["created_by"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        decided_by=row["decided_by"] or "",
        decided_at=utc(row["decided_at"]) if row["decided_at"] is not None else None,
        decision_comment=row["decision_comment"] or "",
    )
