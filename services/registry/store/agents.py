"""Agent repository (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.common.errors import EtagMismatch
from services.registry.domain.agent import Agent, AgentSpec
from services.registry.domain.errors import AgentAlreadyExists
from services.registry.domain.names import AgentName
from services.registry.store.tables import agents


class AgentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, agent: Agent) -> None:
        spec = agent.spec
        try:
            await self._conn.execute(
                agents.insert().values(
                    id=str(uuid.uuid4()),
                    organization_slug=spec.organization_slug,
                    slug=spec.slug,
                    display_name=spec.display_name,
                    description=spec.description,
                    agent_yaml=spec.agent_yaml,
                    agent_card=spec.agent_card,
                    context=spec.context,
                    config=spec.config,
                    version=agent.version,
                    created_at=agent.created_at,
                    updated_at=agent.updated_at,
                    created_by=agent.created_by,
                    updated_by=agent.updated_by,
                )
            )
        except IntegrityError:
            raise AgentAlreadyExists(str(agent.name)) from None

    async def get(self, name: AgentName, *, for_update: bool = False) -> Agent | None:
        query = sa.select(agents).where(_key(name))
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_agent(row._mapping) if row else None

    async def update(self, agent: Agent, *, expected_version: int) -> None:
        """Write a new version of the agent; EtagMismatch if someone else changed it in between."""
        spec = agent.spec
        result = await self._conn.execute(
            agents.update()
            .where(_key(agent.name), agents.c.version == expected_version)
            .values(
                display_name=spec.display_name,
                description=spec.description,
                agent_yaml=spec.agent_yaml,
                agent_card=spec.agent_card,
                context=spec.context,
                config=spec.config,
                version=agent.version,
                updated_at=agent.updated_at,
                updated_by=agent.updated_by,
            )
        )
        if result.rowcount != 1:
            raise EtagMismatch(f"agent {agent.name} has changed since it was read; re-read it and retry")

    async def delete(self, name: AgentName) -> None:
        await self._conn.execute(agents.delete().where(_key(name)))

    async def list_page(self, organization_slug: str, *, after_slug: str | None, limit: int) -> list[Agent]:
        query = sa.select(agents).where(agents.c.organization_slug == organization_slug)
        if after_slug is not None:
            query = query.where(agents.c.slug > after_slug)
        rows = await self._conn.execute(query.order_by(agents.c.slug).limit(limit))
        return [_to_agent(row._mapping) for row in rows]


def _key(name: AgentName) -> sa.ColumnElement[bool]:
    return sa.and_(agents.c.organization_slug == name.organization_slug, agents.c.slug == name.slug)


def _to_agent(row: Any) -> Agent:
    return Agent(
        spec=AgentSpec(
            organization_slug=row["organization_slug"],
            slug=row["slug"],
            display_name=row["display_name"],
            description=row["description"],
            agent_yaml=row["agent_yaml"],
            agent_card=row["agent_card"],
            context=row["context"],
            config=row["config"],
        ),
        version=row["version"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        created_by=row["created_by"],
        updated_by=row["updated_by"],
    )
