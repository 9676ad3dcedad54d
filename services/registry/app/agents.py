"""Agent use cases: create, get, list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.common import context, pagination
from services.common.db import utcnow
from services.common.errors import ValidationFailed
from services.registry.domain.agent import Agent, AgentSpec, validate_agent
from services.registry.domain.errors import AgentNotFound
from services.registry.domain.names import AgentName, parse_parent
from services.registry.store.uow import RegistryUnitOfWork


@dataclass(frozen=True)
class AgentPage:
    agents: list[Agent]
    next_page_token: str


class AgentService:
    def __init__(self, uow_factory: Callable[[], RegistryUnitOfWork]) -> None:
        self._uow = uow_factory

    async def create(self, spec: AgentSpec) -> Agent:
        validate_agent(spec)
        now = utcnow()
        actor = context.current().actor
        agent = Agent(spec=spec, version=1, created_at=now, updated_at=now, created_by=actor, updated_by=actor)
        async with self._uow() as uow:
            await uow.agents.add(agent)
            await uow.commit()
        return agent

    async def get(self, name: str) -> Agent:
        parsed = AgentName.parse(name)
        if not isinstance(parsed, AgentName):
            raise ValidationFailed([parsed])
        async with self._uow() as uow:
            agent = await uow.agents.get(parsed)
        if agent is None:
            raise AgentNotFound(str(parsed))
        return agent

    async def list(self, parent: str, page_size: int, page_token: str) -> AgentPage:
        org = parse_parent(parent)
        if not isinstance(org, str):
            raise ValidationFailed([org])
        page = pagination.page_request(page_size, page_token, "agents", org)
        after = page.after[0] if page.after else None
        async with self._uow() as uow:
            rows = await uow.agents.list(org, after_slug=after, limit=page.size + 1)
        more = len(rows) > page.size
        rows = rows[: page.size]
        last = (rows[-1].spec.slug,) if more and rows else None
        return AgentPage(rows, pagination.next_page_token(page, last))
