"""Agent use cases: create, get, list, update, delete — each scoped to the caller's organization."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common import authz, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import EtagMismatch, OrganizationNotFound, ValidationFailed
from services.common.fieldmask import check_update_mask
from services.common.names import parse_org
from services.common.netpolicy import EgressPolicy
from services.registry.domain.agent import (
    MUTABLE_AGENT_FIELDS,
    Agent,
    AgentSpec,
    moves_destination,
    validate_agent,
)
from services.registry.domain.errors import AgentInUse, AgentNotFound, DestinationNeedsAdmin
from services.registry.domain.names import AgentName
from services.registry.store.uow import RegistryUnitOfWork


@dataclass(frozen=True)
class AgentPage:
    agents: list[Agent]
    next_page_token: str


def parse_agent_name(name: str, field: str = "name") -> AgentName:
    parsed = AgentName.parse(name, field)
    if not isinstance(parsed, AgentName):
        raise ValidationFailed([parsed])
    return parsed


class AgentService:
    """Agents. Where an agent is called is an admin decision (credentials bound to the agent follow it), and its
    endpoints must pass `egress` (no internal addresses unless allowlisted)."""

    def __init__(self, uow_factory: Callable[[], RegistryUnitOfWork], egress: EgressPolicy | None = None) -> None:
        self._uow = uow_factory
        self._egress = egress or EgressPolicy()

    def _authorize(self, principal: Principal, name: AgentName, role: str) -> None:
        authz.authorize(
            principal, name.organization_slug, role, hidden=lambda: AgentNotFound(str(name)), shared_read=True
        )

    async def create(self, spec: AgentSpec) -> Agent:
        principal = authz.require_principal()
        validate_agent(spec, self._egress)
        org = spec.organization_slug
        # Another organization is NOT_FOUND, as for every create; a platform-wide agent ("") is PERMISSION_DENIED.
        authz.authorize(principal, org, "author", hidden=lambda: OrganizationNotFound(org), shared_read=True)
        _check_destination(principal, None, spec)
        now = utcnow()
        actor = principal.subject
        agent = Agent(spec=spec, version=1, created_at=now, updated_at=now, created_by=actor, updated_by=actor)
        async with self._uow() as uow:
            await uow.agents.add(agent)
            await uow.commit()
        return agent

    async def get(self, name: str) -> Agent:
        principal = authz.require_principal()
        parsed = parse_agent_name(name)
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            agent = await uow.agents.get(parsed)
        if agent is None:
            raise AgentNotFound(str(parsed))
        return agent

    async def list_page(self, parent: str, page_size: int, page_token: str) -> AgentPage:
        principal = authz.require_principal()
        org = parse_org(parent, allow_platform=True)
        authz.authorize(
            principal,
            org,
            "viewer",
            hidden=lambda: OrganizationNotFound(org),
            shared_read=True,
        )
        paging = pagination.Paging(page_size, page_token, pagination.TEXT, "agents", org)
        async with self._uow() as uow:
            rows = await uow.agents.list_page(org, after_slug=paging.after, limit=paging.limit)
        return AgentPage(*paging.page(rows, lambda agent: agent.spec.slug))

    async def update(self, name: str, changes: AgentSpec, paths: Sequence[str], etag: str) -> Agent:
        principal = authz.require_principal()
        parsed = parse_agent_name(name, "agent.name")
        fields = check_update_mask(paths, MUTABLE_AGENT_FIELDS)
        self._authorize(principal, parsed, "author")
        async with self._uow() as uow:
            current = await uow.agents.get(parsed, for_update=True)
            if current is None:
                raise AgentNotFound(str(parsed))
            if etag and etag != current.etag:
                raise EtagMismatch(f"agent {parsed} has changed since it was read; re-read it and retry")
            spec = dataclasses.replace(current.spec, **{f: getattr(changes, f) for f in fields})
            moved = moves_destination(current.spec, spec)
            validate_agent(spec, self._egress if moved else None, check_config=spec.config != current.spec.config)
            if spec == current.spec:
                return current
            _check_destination(principal, current.spec, spec)
            updated = dataclasses.replace(
                current, spec=spec, version=current.version + 1, updated_at=utcnow(), updated_by=principal.subject
            )
            await uow.agents.update(updated, expected_version=current.version)
            await uow.commit()
        return updated

    async def delete(self, name: str, etag: str) -> None:
        principal = authz.require_principal()
        parsed = parse_agent_name(name)
        self._authorize(principal, parsed, "author")
        async with self._uow() as uow:
            current = await uow.agents.get(parsed, for_update=True)
            if current is None:
                raise AgentNotFound(str(parsed))
            if etag and etag != current.etag:
                raise EtagMismatch(f"agent {parsed} has changed since it was read; re-read it and retry")
            in_use = await uow.orchestrations.count_live_for_agent(parsed.organization_slug, parsed.slug)
            if in_use:
                raise AgentInUse(str(parsed), in_use)
            await uow.agents.delete(parsed)
            await uow.commit()


def _check_destination(principal: Principal, before: AgentSpec | None, after: AgentSpec) -> None:
    if moves_destination(before, after) and not authz.has_role(principal, "admin"):
        raise DestinationNeedsAdmin(str(after.name))
