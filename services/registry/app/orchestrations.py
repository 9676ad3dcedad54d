"""Orchestration use cases: create, read, list, update metadata, save versions, diff, lifecycle, tags, promote.

Every save of a definition goes through `VersionWriter.save`, which validates the definition, appends an
immutable version and moves the orchestration's current version, in one transaction — unless the save only repeats
the current version (`repeats_current`: same content, no new label, same lineage), which answers with it and writes
nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common import authz, names, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import (
    EtagMismatch,
    FieldViolation,
    OrganizationNotFound,
    ValidationFailed,
)
from services.common.fieldmask import check_update_mask
from services.registry.domain.definition import Definition, validate_definition
from services.registry.domain.errors import (
    AgentNotFound,
    OrchestrationAlreadyExists,
    OrchestrationDeleted,
    OrchestrationNotFound,
    VersionLabelTaken,
    VersionNotFound,
)
from services.registry.domain.filters import OrchestrationFilter, parse_filter
from services.registry.domain.names import AgentName
from services.registry.domain.orchestration import (
    MUTABLE_ORCHESTRATION_FIELDS,
    Change,
    Orchestration,
    OrchestrationName,
    OrchestrationStatus,
    OrchestrationVersion,
    VersionContent,
    VersionRef,
    content_digest,
    diff_versions,
    metadata_violations,
    repeats_current,
    tag_violations,
    version_note_violations,
)
from services.registry.store.uow import RegistryUnitOfWork

ANY_AGENT = names.ANY


@dataclass(frozen=True)
class NewOrchestration:
    """Metadata for an orchestration created by a save."""

    display_name: str
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Saved:
    orchestration: Orchestration
    version: OrchestrationVersion
    created: bool
    unchanged: bool = False  # the save repeated the current version: nothing was written, `version` is it


@dataclass(frozen=True)
class OrchestrationPage:
    orchestrations: list[Orchestration]
    next_page_token: str


@dataclass(frozen=True)
class VersionPage:
    versions: list[OrchestrationVersion]
    next_page_token: str


def parse_orchestration_name(name: str, field: str = "name") -> OrchestrationName:
    parsed = OrchestrationName.parse(name, field)
    if isinstance(parsed, FieldViolation):
        raise ValidationFailed([parsed])
    return parsed


def parse_version_ref(name: str, field: str = "name") -> VersionRef:
    parsed = VersionRef.parse(name, field)
    if isinstance(parsed, FieldViolation):
        raise ValidationFailed([parsed])
    return parsed


def parse_org_agent(parent: str, field: str = "parent", *, allow_any: bool = False) -> AgentName:
    """`organizations/{org}/agents/{agent}`; with allow_any, `organizations/{org}/agents/-` means every agent."""
    return AgentName(*names.parse_org_agent(parent, field, allow_any=allow_any))


def authorize(principal: Principal, name: OrchestrationName, role: str) -> None:
    authz.authorize(principal, name.organization_slug, role, hidden=lambda: OrchestrationNotFound(str(name)))


def check_etag(orchestration: Orchestration, etag: str) -> None:
    if etag and etag != orchestration.etag:
        raise EtagMismatch(f"orchestration {orchestration.name} has changed since it was read; re-read it and retry")


class VersionWriter:
    """Appends an immutable version to an orchestration (creating it when asked), inside the caller's transaction."""

    async def save(
        self,
        uow: RegistryUnitOfWork,
        principal: Principal,
        target: OrchestrationName,
        content: VersionContent,
        *,
        create: NewOrchestration | None,
        etag: str = "",
        source_plan: str = "",
        copied_from: str = "",
    ) -> Saved:
        now = utcnow()
        found = await uow.orchestrations.get(target, for_update=True)
        if found is None:
            if create is None:
                raise OrchestrationNotFound(str(target))
            if not await _agent_exists(uow, target):
                raise AgentNotFound(f"organizations/{target.organization_slug}/agents/{target.agent_slug}")
            orchestration = Orchestration(
                name=target,
                display_name=create.display_name,
                description=create.description,
                status=OrchestrationStatus.ACTIVE,
                tags=tuple(sorted(set(create.tags))),
                current_version=1,
                revision=1,
                created_at=now,
                updated_at=now,
                created_by=principal.subject,
                updated_by=principal.subject,
            )
            row_id = await uow.orchestrations.add(orchestration)
            created = True
        else:
            row_id, current = found
            if current.deleted:
                raise OrchestrationDeleted(str(target))
            latest = await uow.orchestrations.get_version(row_id, target, number=current.current_version)
            if latest is not None and repeats_current(
                latest, content, source_plan=source_plan, copied_from=copied_from
            ):
                # Nothing would change, so nothing can be lost: answered before the etag is compared, which makes a
                # retried save (its reply lost, the etag it sent now stale) answer as the first one did.
                return Saved(current, latest, created=False, unchanged=True)
            check_etag(current, etag)
            if content.label and await uow.orchestrations.get_version(row_id, target, label=content.label):
                raise VersionLabelTaken(str(target), content.label)
            orchestration = dataclasses.replace(
                current,
                current_version=current.current_version + 1,
                revision=current.revision + 1,
                updated_at=now,
                updated_by=principal.subject,
            )
            await uow.orchestrations.save(row_id, orchestration, expected_revision=current.revision)
            created = False
        version = OrchestrationVersion(
            orchestration=target,
            number=orchestration.current_version,
            content=content,
            digest=content_digest(content.definition, content.prompt_templates),
            author=principal.subject,
            created_at=now,
            source_plan=source_plan,
            copied_from=copied_from,
        )
        await uow.orchestrations.add_version(row_id, version)
        return Saved(orchestration, version, created)


def content_violations(content: VersionContent, prefix: str) -> list[FieldViolation]:
    """Every problem with a version's content: notes and the whole definition (validated at once)."""
    violations = version_note_violations(content, prefix)
    try:
        validate_definition(
            content.definition,
            content.prompt_templates,
            prefix=f"{prefix}.definition",
            templates_prefix=f"{prefix}.prompt_templates",
        )
    except ValidationFailed as exc:
        violations += exc.violations
    return violations


async def _agent_exists(uow: RegistryUnitOfWork, target: OrchestrationName) -> bool:
    for org in (target.organization_slug, ""):
        if await uow.agents.get(AgentName(org, target.agent_slug)) is not None:
            return True
    return False


class OrchestrationService:
    def __init__(self, uow_factory: Callable[[], RegistryUnitOfWork], writer: VersionWriter | None = None) -> None:
        self._uow = uow_factory
        self._writer = writer or VersionWriter()

    async def create(
        self, parent: str, orchestration_id: str, meta: NewOrchestration, content: VersionContent
    ) -> Saved:
        principal = authz.require_principal()
        violations: list[FieldViolation] = []
        agent: AgentName | None = None
        try:
            agent = parse_org_agent(parent)
        except ValidationFailed as exc:
            violations += exc.violations
        if (v := names.slug_violation("orchestration_id", orchestration_id)) is not None:
            violations.append(v)
        violations += metadata_violations(meta.display_name, meta.description, "orchestration")
        violations += tag_violations(meta.tags, "orchestration.tags")
        violations += content_violations(content, "version")
        if violations:
            raise ValidationFailed(violations)
        assert agent is not None
        target = OrchestrationName(agent.organization_slug, agent.slug, orchestration_id)
        authz.authorize(principal, target.organization_slug, "author", hidden=lambda: AgentNotFound(parent))
        async with self._uow() as uow:
            if await uow.orchestrations.get(target) is not None:
                raise OrchestrationAlreadyExists(str(target))
            saved = await self._writer.save(uow, principal, target, content, create=meta)
            await uow.commit()
        return saved

    async def get(self, name: str, version_number: int) -> tuple[Orchestration, OrchestrationVersion]:
        principal = authz.require_principal()
        target = parse_orchestration_name(name)
        if version_number < 0:
            raise ValidationFailed.single("version_number", "must be 0 (current) or a version number")
        authorize(principal, target, "viewer")
        async with self._uow() as uow:
            row_id, orchestration = await self._load(uow, target)
            number = version_number or orchestration.current_version
            version = await uow.orchestrations.get_version(row_id, target, number=number)
        if version is None:
            raise VersionNotFound(f"{target}/versions/{number}")
        return orchestration, version

    async def list_page(
        self, parent: str, filter_source: str, page_size: int, page_token: str, show_deleted: bool
    ) -> OrchestrationPage:
        principal = authz.require_principal()
        agent = parse_org_agent(parent, allow_any=True)
        criteria = parse_filter(filter_source)
        if agent.slug != ANY_AGENT:
            if criteria.agent and criteria.agent != agent.slug:
                raise ValidationFailed.single("filter", "names an agent other than the parent's")
            criteria = dataclasses.replace(criteria, agent=agent.slug)
        authz.authorize(principal, agent.organization_slug, "viewer", hidden=lambda: AgentNotFound(parent))
        paging = pagination.Paging(
            page_size,
            page_token,
            pagination.TEXT_PAIR,
            "orchestrations",
            agent.organization_slug,
            criteria.fingerprint,
            str(show_deleted),
        )
        async with self._uow() as uow:
            rows = await uow.orchestrations.list_page(
                agent.organization_slug, criteria, show_deleted=show_deleted, after=paging.after, limit=paging.limit
            )
        return OrchestrationPage(*paging.page(rows, lambda o: (o.name.agent_slug, o.name.slug)))

    async def update(
        self, name: str, display_name: str, description: str, paths: Sequence[str], etag: str
    ) -> Orchestration:
        principal = authz.require_principal()
        target = parse_orchestration_name(name, "orchestration.name")
        fields = check_update_mask(paths, MUTABLE_ORCHESTRATION_FIELDS)
        values: dict[str, Any] = {"display_name": display_name, "description": description}
        authorize(principal, target, "author")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, target, for_update=True)
            check_etag(current, etag)
            changed = dataclasses.replace(current, **{f: values[f] for f in fields})
            violations = metadata_violations(changed.display_name, changed.description, "orchestration")
            if violations:
                raise ValidationFailed(violations)
            if current.deleted:
                raise OrchestrationDeleted(str(target))
            if changed == current:
                return current
            return await self._store(uow, row_id, current, changed, principal)

    async def create_version(self, parent: str, content: VersionContent, etag: str) -> Saved:
        principal = authz.require_principal()
        target = parse_orchestration_name(parent, "parent")
        violations = content_violations(content, "version")
        if violations:
            raise ValidationFailed(violations)
        authorize(principal, target, "author")
        async with self._uow() as uow:
            saved = await self._writer.save(uow, principal, target, content, create=None, etag=etag)
            await uow.commit()
        return saved

    async def list_versions(self, parent: str, page_size: int, page_token: str) -> VersionPage:
        principal = authz.require_principal()
        target = parse_orchestration_name(parent, "parent")
        paging = pagination.Paging(page_size, page_token, pagination.NUMBER, "versions", str(target))
        authorize(principal, target, "viewer")
        async with self._uow() as uow:
            row_id, _ = await self._load(uow, target)
            rows = await uow.orchestrations.list_versions(row_id, target, before=paging.after, limit=paging.limit)
        return VersionPage(*paging.page(rows, lambda version: version.number))

    async def get_version(self, name: str) -> OrchestrationVersion:
        principal = authz.require_principal()
        ref = parse_version_ref(name)
        authorize(principal, ref.orchestration, "viewer")
        async with self._uow() as uow:
            return await self._version(uow, ref)

    async def diff(self, name: str, from_version: int, to_version: int) -> list[Change]:
        principal = authz.require_principal()
        target = parse_orchestration_name(name)
        violations = []
        if from_version < 1:
            violations.append(FieldViolation("from_version", "must be a version number (1 or more)"))
        if to_version < 0:
            violations.append(FieldViolation("to_version", "must be 0 (current) or a version number"))
        if violations:
            raise ValidationFailed(violations)
        authorize(principal, target, "viewer")
        async with self._uow() as uow:
            _, orchestration = await self._load(uow, target)
            old = await self._version(uow, VersionRef(target, from_version, None))
            new = await self._version(uow, VersionRef(target, to_version or orchestration.current_version, None))
        return diff_versions(old, new)

    async def set_status(self, name: str, status: OrchestrationStatus | None, etag: str) -> Orchestration:
        principal = authz.require_principal()
        target = parse_orchestration_name(name)
        if status is None:
            raise ValidationFailed.single("status", "must be ACTIVE, INACTIVE or ARCHIVED")
        authorize(principal, target, "author")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, target, for_update=True)
            check_etag(current, etag)
            if current.deleted:
                raise OrchestrationDeleted(str(target))
            if current.status is status:
                return current
            return await self._store(uow, row_id, current, dataclasses.replace(current, status=status), principal)

    async def retag(self, name: str, tags: Sequence[str], *, add: bool) -> Orchestration:
        principal = authz.require_principal()
        target = parse_orchestration_name(name)
        violations = tag_violations(list(tags), "tags")
        if not tags:
            violations.append(FieldViolation("tags", "name at least one tag"))
        if violations:
            raise ValidationFailed(violations)
        authorize(principal, target, "author")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, target, for_update=True)
            if current.deleted:
                raise OrchestrationDeleted(str(target))
            wanted = set(current.tags) | set(tags) if add else set(current.tags) - set(tags)
            if len(wanted) > 50:
                raise ValidationFailed.single("tags", "an orchestration has at most 50 tags")
            if wanted == set(current.tags):
                return current
            changed = dataclasses.replace(current, tags=tuple(sorted(wanted)))
            return await self._store(uow, row_id, current, changed, principal)

    async def promote(self, name: str, target_parent: str, target_id: str, label: str, change_note: str) -> Saved:
        principal = authz.require_principal()
        ref = parse_version_ref(name)
        violations: list[FieldViolation] = []
        agent: AgentName | None = None
        try:
            agent = parse_org_agent(target_parent, "target_parent")
        except ValidationFailed as exc:
            violations += exc.violations
        slug = target_id or ref.orchestration.slug
        if target_id and (v := names.slug_violation("target_orchestration_id", target_id)) is not None:
            violations.append(v)
        violations += version_note_violations(VersionContent({}, (), label, change_note), "version")
        if violations:
            raise ValidationFailed(violations)
        assert agent is not None
        target = OrchestrationName(agent.organization_slug, agent.slug, slug)
        if target == ref.orchestration:
            raise ValidationFailed.single(
                "target_parent", "is the source orchestration itself; save a new version instead"
            )
        authorize(principal, ref.orchestration, "viewer")
        authz.authorize(principal, target.organization_slug, "author", hidden=lambda: AgentNotFound(target_parent))
        async with self._uow() as uow:
            _, source_orchestration = await self._load(uow, ref.orchestration)
            source = await self._version(uow, ref)
            content = dataclasses.replace(source.content, label=label, change_note=change_note)
            meta = NewOrchestration(source_orchestration.display_name, source_orchestration.description)
            saved = await self._writer.save(
                uow, principal, target, content, create=meta, copied_from=source.name, source_plan=source.source_plan
            )
            await uow.commit()
        return saved

    async def delete(self, name: str, etag: str) -> Orchestration:
        principal = authz.require_principal()
        target = parse_orchestration_name(name)
        authorize(principal, target, "author")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, target, for_update=True)
            check_etag(current, etag)
            if current.deleted:
                return current
            now = utcnow()
            changed = dataclasses.replace(current, status=OrchestrationStatus.ARCHIVED, deleted_at=now)
            return await self._store(uow, row_id, current, changed, principal)

    async def validate(self, parent: str, content: VersionContent) -> Definition:
        """Validate a definition as a save would, without saving; for ad hoc launches."""
        principal = authz.require_principal()
        org = names.parse_org(parent)
        authz.authorize(principal, org, "viewer", hidden=lambda: OrganizationNotFound(org))
        return validate_definition(content.definition, content.prompt_templates)

    # --- helpers --------------------------------------------------------------------------------------------------

    async def _load(
        self, uow: RegistryUnitOfWork, target: OrchestrationName, *, for_update: bool = False
    ) -> tuple[str, Orchestration]:
        found = await uow.orchestrations.get(target, for_update=for_update)
        if found is None:
            raise OrchestrationNotFound(str(target))
        return found

    async def _version(self, uow: RegistryUnitOfWork, ref: VersionRef) -> OrchestrationVersion:
        row_id, _ = await self._load(uow, ref.orchestration)
        version = await uow.orchestrations.get_version(row_id, ref.orchestration, number=ref.number, label=ref.label)
        if version is None:
            raise VersionNotFound(f"{ref.orchestration}/versions/{ref.number or ref.label}")
        return version

    async def _store(
        self,
        uow: RegistryUnitOfWork,
        row_id: str,
        current: Orchestration,
        changed: Orchestration,
        principal: Principal,
    ) -> Orchestration:
        stored = dataclasses.replace(
            changed, revision=current.revision + 1, updated_at=utcnow(), updated_by=principal.subject
        )
        await uow.orchestrations.save(row_id, stored, expected_revision=current.revision)
        await uow.commit()
        return stored


__all__ = ["NewOrchestration", "OrchestrationFilter", "OrchestrationService", "Saved", "VersionWriter"]
