"""Conversation plan use cases: record, read, list, approve or reject, convert, and save as an orchestration.

A plan is recorded as a draft (older drafts of its conversation become superseded in the same transaction), an
approver decides on it once, and an approved plan can be saved, as often as wanted, as a new orchestration or as
a new version of one; each saved version names the plan in `source_plan`, which is how a plan lists them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common import authz, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import EtagMismatch, FieldViolation, ValidationFailed
from services.common.names import InvalidName, parse_org, slug_violation
from services.registry.app.orchestrations import NewOrchestration, Saved, VersionWriter, content_violations
from services.registry.domain.errors import (
    AgentNotFound,
    PlanNotApproved,
    PlanNotDraft,
    PlanNotFound,
)
from services.registry.domain.names import AgentName
from services.registry.domain.orchestration import (
    MAX_DESCRIPTION,
    MAX_DISPLAY_NAME,
    OrchestrationName,
    VersionContent,
    version_note_violations,
)
from services.registry.domain.plan import (
    Plan,
    PlanName,
    PlanSpec,
    PlanStatus,
    comment_violation,
    conversation_id_violation,
    plan_spec_violations,
)
from services.registry.domain.plan_conversion import Conversion, convert_plan
from services.registry.store.plans import PlanFilter
from services.registry.store.uow import RegistryUnitOfWork


@dataclass(frozen=True)
class PlanPage:
    plans: list[Plan]
    next_page_token: str


@dataclass(frozen=True)
class SaveRequest:
    """What SavePlanAsOrchestration asks for, besides the plan's name."""

    orchestration_id: str
    display_name: str = ""
    label: str = ""
    change_note: str = ""


def parse_plan_name(name: str, field: str = "name") -> PlanName:
    parsed = PlanName.parse(name, field)
    if isinstance(parsed, FieldViolation):
        raise ValidationFailed([parsed])
    return parsed


def _organization(parent: str, field: str = "parent") -> str | FieldViolation:
    if not parent:
        return FieldViolation(field, "is required: organizations/{org} (plans always belong to an organization)")
    try:
        return parse_org(parent, field)
    except InvalidName as exc:
        return exc.violation


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class PlanService:
    def __init__(self, uow_factory: Callable[[], RegistryUnitOfWork], writer: VersionWriter | None = None) -> None:
        self._uow = uow_factory
        self._writer = writer or VersionWriter()

    def _authorize(self, principal: Principal, name: PlanName, role: str) -> None:
        authz.authorize(principal, name.organization_slug, role, hidden=lambda: PlanNotFound(str(name)))

    async def create(self, parent: str, conversation_id: str, agent_slug: str, document: dict[str, Any]) -> Plan:
        principal = authz.require_principal()
        org = _organization(parent)
        violations = [org] if isinstance(org, FieldViolation) else []
        spec = PlanSpec(org if isinstance(org, str) else "", conversation_id, agent_slug, document)
        violations += plan_spec_violations(spec)
        if violations:
            raise ValidationFailed(violations)
        agent = f"organizations/{spec.organization_slug}/agents/{agent_slug}"
        authz.authorize(principal, spec.organization_slug, "author", hidden=lambda: AgentNotFound(agent))
        now = utcnow()
        plan = Plan(
            name=PlanName.new(spec.organization_slug),
            conversation_id=conversation_id,
            agent_slug=agent_slug,
            document=spec.document,
            status=PlanStatus.DRAFT,
            revision=1,
            created_by=principal.subject,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            if not await _agent_exists(uow, spec.organization_slug, agent_slug):
                raise AgentNotFound(agent)
            await uow.plans.lock_conversation(spec.organization_slug, conversation_id)
            await uow.plans.supersede_drafts(spec.organization_slug, conversation_id, keep=plan.name.plan_id, now=now)
            await uow.plans.add(plan)
            await uow.commit()
        return plan

    async def get(self, name: str) -> Plan:
        principal = authz.require_principal()
        parsed = parse_plan_name(name)
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            return await self._load(uow, parsed, with_lineage=True)

    async def list(
        self,
        parent: str,
        page_size: int,
        page_token: str,
        *,
        conversation_id: str = "",
        agent_slug: str = "",
        status: PlanStatus | None = None,
        status_valid: bool = True,
    ) -> PlanPage:
        principal = authz.require_principal()
        org = _organization(parent)
        found = [
            org if isinstance(org, FieldViolation) else None,
            conversation_id_violation("conversation_id", conversation_id, required=False),
            slug_violation("agent_slug", agent_slug, required=False),
            None if status_valid else FieldViolation("status", "must be DRAFT, APPROVED, REJECTED or SUPERSEDED"),
            FieldViolation("page_size", "must be 0 (service default) or positive") if page_size < 0 else None,
        ]
        violations = [v for v in found if v is not None]
        if violations:
            raise ValidationFailed(violations)
        assert isinstance(org, str)
        authz.authorize(principal, org, "viewer", hidden=lambda: PlanNotFound(f"organizations/{org}/plans/-"))
        criteria = PlanFilter(conversation_id, agent_slug, status)
        paging = pagination.Paging(
            page_size,
            page_token,
            pagination.TIME_AND_ID,
            "plans",
            org,
            conversation_id,
            agent_slug,
            status.value if status else "",
        )
        async with self._uow() as uow:
            rows = await uow.plans.list(org, criteria, before=paging.after, limit=paging.limit)
        return PlanPage(*paging.page(rows, lambda plan: (plan.created_at, plan.name.plan_id)))

    async def decide(self, name: str, *, approve: bool, comment: str, etag: str) -> Plan:
        principal = authz.require_principal()
        parsed: PlanName | FieldViolation = PlanName.parse(name)
        violations = [v for v in (parsed, comment_violation("comment", comment)) if isinstance(v, FieldViolation)]
        if violations:
            raise ValidationFailed(violations)
        assert isinstance(parsed, PlanName)
        self._authorize(principal, parsed, "approver")
        async with self._uow() as uow:
            current = await self._load(uow, parsed, for_update=True)
            if etag and etag != current.etag:
                raise EtagMismatch(f"plan {parsed} has changed since it was read; re-read it and retry")
            if current.status is not PlanStatus.DRAFT:
                raise PlanNotDraft(str(parsed), current.status.value)
            now = utcnow()
            decided = dataclasses.replace(
                current,
                status=PlanStatus.APPROVED if approve else PlanStatus.REJECTED,
                revision=current.revision + 1,
                updated_at=now,
                decided_by=principal.subject,
                decided_at=now,
                decision_comment=comment,
            )
            await uow.plans.decide(decided, expected_revision=current.revision)
            decided = dataclasses.replace(
                decided, saved_versions=tuple(await uow.orchestrations.versions_from_plan(str(parsed)))
            )
            await uow.commit()
        return decided

    async def convert(self, name: str) -> Conversion:
        principal = authz.require_principal()
        parsed = parse_plan_name(name)
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            plan = await self._load(uow, parsed)
        return convert_plan(plan.document, plan.agent_slug)

    async def save(self, name: str, request: SaveRequest) -> Saved:
        principal = authz.require_principal()
        parsed: PlanName | FieldViolation = PlanName.parse(name)
        violations = [parsed] if isinstance(parsed, FieldViolation) else []
        if (v := slug_violation("orchestration_id", request.orchestration_id)) is not None:
            violations.append(v)
        if len(request.display_name) > MAX_DISPLAY_NAME:
            violations.append(FieldViolation("display_name", f"must be at most {MAX_DISPLAY_NAME} characters"))
        notes = VersionContent({}, (), request.label, request.change_note)
        violations += [
            FieldViolation(v.field.removeprefix("version."), v.description)
            for v in version_note_violations(notes, "version")
        ]
        if violations:
            raise ValidationFailed(violations)
        assert isinstance(parsed, PlanName)
        self._authorize(principal, parsed, "author")
        async with self._uow() as uow:
            plan = await self._load(uow, parsed)
            if plan.status is not PlanStatus.APPROVED:
                raise PlanNotApproved(str(parsed), plan.status.value)
            conversion = convert_plan(plan.document, plan.agent_slug)
            content = VersionContent(
                conversion.definition, conversion.prompt_templates, request.label, request.change_note
            )
            problems = content_violations(content, "version")
            if problems:  # the conversion validated the definition; this only guards against drift
                raise ValidationFailed(problems)
            target = OrchestrationName(parsed.organization_slug, plan.agent_slug, request.orchestration_id)
            display_name = request.display_name.strip() or conversion.title or request.orchestration_id
            meta = NewOrchestration(_clip(display_name, MAX_DISPLAY_NAME), _clip(conversion.summary, MAX_DESCRIPTION))
            saved = await self._writer.save(uow, principal, target, content, create=meta, source_plan=str(parsed))
            await uow.commit()
        return saved

    async def _load(
        self, uow: RegistryUnitOfWork, name: PlanName, *, for_update: bool = False, with_lineage: bool = False
    ) -> Plan:
        plan = await uow.plans.get(name, for_update=for_update)
        if plan is None:
            raise PlanNotFound(str(name))
        if with_lineage:
            plan = dataclasses.replace(
                plan, saved_versions=tuple(await uow.orchestrations.versions_from_plan(str(name)))
            )
        return plan


async def _agent_exists(uow: RegistryUnitOfWork, organization_slug: str, agent_slug: str) -> bool:
    for org in (organization_slug, ""):
        if await uow.agents.get(AgentName(org, agent_slug)) is not None:
            return True
    return False
