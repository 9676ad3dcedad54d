"""Orchestration, tag and version repository (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.common.errors import EtagMismatch
from services.registry.domain.definition import PromptTemplate
from services.registry.domain.errors import OrchestrationAlreadyExists, VersionLabelTaken
from services.registry.domain.filters import OrchestrationFilter
from services.registry.domain.orchestration import (
    Orchestration,
    OrchestrationName,
    OrchestrationStatus,
    OrchestrationVersion,
    VersionContent,
)
from services.registry.store.tables import orchestration_tags, orchestration_versions, orchestrations


class OrchestrationRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # --- orchestrations -----------------------------------------------------------------------------------------

    async def add(self, orchestration: Orchestration) -> str:
        """Insert the orchestration and its tags; returns its row id."""
        row_id = str(uuid.uuid4())
        name = orchestration.name
        try:
            await self._conn.execute(
                orchestrations.insert().values(
                    id=row_id,
                    organization_slug=name.organization_slug,
                    agent_slug=name.agent_slug,
                    slug=name.slug,
                    **_mutable_columns(orchestration),
                    created_at=orchestration.created_at,
                    created_by=orchestration.created_by,
                )
            )
        except IntegrityError:
            raise OrchestrationAlreadyExists(str(name)) from None
        await self._insert_tags(row_id, orchestration.tags)
        return row_id

    async def get(self, name: OrchestrationName, *, for_update: bool = False) -> tuple[str, Orchestration] | None:
        query = sa.select(orchestrations).where(_key(name))
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        tags = await self._tags([row.id])
        return row.id, _to_orchestration(row._mapping, tags.get(row.id, ()))

    async def save(self, row_id: str, orchestration: Orchestration, *, expected_revision: int) -> None:
        """Write a changed orchestration (revision already bumped); EtagMismatch if changed meanwhile."""
        result = await self._conn.execute(
            orchestrations.update()
            .where(orchestrations.c.id == row_id, orchestrations.c.revision == expected_revision)
            .values(**_mutable_columns(orchestration))
        )
        if result.rowcount != 1:
            raise EtagMismatch(f"orchestration {orchestration.name} has changed since it was read; re-read and retry")
        await self._conn.execute(orchestration_tags.delete().where(orchestration_tags.c.orchestration_id == row_id))
        await self._insert_tags(row_id, orchestration.tags)

    async def list_page(
        self,
        organization_slug: str,
        criteria: OrchestrationFilter,
        *,
        show_deleted: bool,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[Orchestration]:
        o = orchestrations.c
        query = sa.select(orchestrations).where(o.organization_slug == organization_slug)
        if criteria.agent:
            query = query.where(o.agent_slug == criteria.agent)
        if criteria.status:
            query = query.where(o.status == criteria.status.value)
        if not show_deleted:
            query = query.where(o.deleted_at.is_(None))
        for tag in criteria.tags:
            query = query.where(
                sa.exists().where(orchestration_tags.c.orchestration_id == o.id, orchestration_tags.c.tag == tag)
            )
        if criteria.text:
            needle = criteria.text.lower()
            query = query.where(
                sa.or_(
                    *(
                        sa.func.lower(column).contains(needle, autoescape=True)
                        for column in (o.slug, o.display_name, o.description)
                    )
                )
            )
        if after is not None:
            query = query.where(sa.tuple_(o.agent_slug, o.slug) > sa.tuple_(*after))
        rows = (await self._conn.execute(query.order_by(o.agent_slug, o.slug).limit(limit))).all()
        tags = await self._tags([r.id for r in rows])
        return [_to_orchestration(r._mapping, tags.get(r.id, ())) for r in rows]

    async def count_live_for_agent(self, organization_slug: str, agent_slug: str) -> int:
        o = orchestrations.c
        query = sa.select(sa.func.count()).where(
            o.organization_slug == organization_slug, o.agent_slug == agent_slug, o.deleted_at.is_(None)
        )
        return int((await self._conn.execute(query)).scalar_one())

    # --- versions -------------------------------------------------------------------------------------------------

    async def add_version(self, row_id: str, version: OrchestrationVersion) -> None:
        content = version.content
        try:
            await self._conn.execute(
                orchestration_versions.insert().values(
                    id=str(uuid.uuid4()),
                    orchestration_id=row_id,
                    version_number=version.number,
                    label=content.label or None,
                    definition=content.definition,
                    prompt_templates=[
                        {"name": t.name, "template": t.template, "description": t.description}
                        for t in content.prompt_templates
                    ],
                    digest=version.digest,
                    author=version.author,
                    change_note=content.change_note,
                    source_plan=version.source_plan or None,
                    copied_from=version.copied_from or None,
                    created_at=version.created_at,
                )
            )
        except IntegrityError:
            raise VersionLabelTaken(str(version.orchestration), content.label) from None

    async def get_version(
        self, row_id: str, name: OrchestrationName, *, number: int | None = None, label: str | None = None
    ) -> OrchestrationVersion | None:
        v = orchestration_versions.c
        query = sa.select(orchestration_versions).where(v.orchestration_id == row_id)
        query = query.where(v.version_number == number) if number is not None else query.where(v.label == label)
        row = (await self._conn.execute(query)).first()
        return _to_version(row._mapping, name) if row else None

    async def list_versions(
        self, row_id: str, name: OrchestrationName, *, before: int | None, limit: int
    ) -> list[OrchestrationVersion]:
        v = orchestration_versions.c
        query = sa.select(orchestration_versions).where(v.orchestration_id == row_id)
        if before is not None:
            query = query.where(v.version_number < before)
        rows = await self._conn.execute(query.order_by(v.version_number.desc()).limit(limit))
        return [_to_version(r._mapping, name) for r in rows]

    async def versions_from_plan(self, plan_name: str) -> list[str]:
        """Names of the versions saved from a plan (lineage), oldest first."""
        o, v = orchestrations.c, orchestration_versions.c
        query = (
            sa.select(o.organization_slug, o.agent_slug, o.slug, v.version_number)
            .select_from(orchestration_versions.join(orchestrations, v.orchestration_id == o.id))
            .where(v.source_plan == plan_name)
            .order_by(v.created_at, v.version_number)
        )
        return [
            f"{OrchestrationName(r.organization_slug, r.agent_slug, r.slug)}/versions/{r.version_number}"
            for r in await self._conn.execute(query)
        ]

    # --- helpers --------------------------------------------------------------------------------------------------

    async def _insert_tags(self, row_id: str, tags: Sequence[str]) -> None:
        if tags:
            await self._conn.execute(
                orchestration_tags.insert(), [{"orchestration_id": row_id, "tag": tag} for tag in tags]
            )

    async def _tags(self, row_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not row_ids:
            return {}
        t = orchestration_tags.c
        rows = await self._conn.execute(
            sa.select(t.orchestration_id, t.tag).where(t.orchestration_id.in_(row_ids)).order_by(t.tag)
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.orchestration_id, []).append(row.tag)
        return {k: tuple(v) for k, v in found.items()}


def _key(name: OrchestrationName) -> sa.ColumnElement[bool]:
    o = orchestrations.c
    return sa.and_(o.organization_slug == name.organization_slug, o.agent_slug == name.agent_slug, o.slug == name.slug)


def _mutable_columns(orchestration: Orchestration) -> dict[str, Any]:
    return {
        "display_name": orchestration.display_name,
        "description": orchestration.description,
        "status": orchestration.status.value,
        "current_version": orchestration.current_version,
        "revision": orchestration.revision,
        "updated_at": orchestration.updated_at,
        "updated_by": orchestration.updated_by,
        "deleted_at": orchestration.deleted_at,
    }


def _to_orchestration(row: Any, tags: tuple[str, ...]) -> Orchestration:
    return Orchestration(
        name=OrchestrationName(row["organization_slug"], row["agent_slug"], row["slug"]),
        display_name=row["display_name"],
        description=row["description"],
        status=OrchestrationStatus(row["status"]),
        tags=tags,
        current_version=row["current_version"],
        revision=row["revision"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        created_by=row["created_by"],
        updated_by=row["updated_by"],
        deleted_at=utc(row["deleted_at"]) if row["deleted_at"] is not None else None,
    )


def _to_version(row: Any, name: OrchestrationName) -> OrchestrationVersion:
    return OrchestrationVersion(
        orchestration=name,
        number=row["version_number"],
        content=VersionContent(
            definition=row["definition"],
            prompt_templates=tuple(
                PromptTemplate(t["name"], t["template"], t.get("description", "")) for t in row["prompt_templates"]
            ),
            label=row["label"] or "",
            change_note=row["change_note"],
        ),
        digest=row["digest"],
        author=row["author"],
        created_at=utc(row["created_at"]),
        source_plan=row["source_plan"] or "",
        copied_from=row["copied_from"] or "",
    )
