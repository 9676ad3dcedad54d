"""Organization, member and group use cases. Writes need the admin role in the organization (creating an
organization: a platform admin), reads the viewer role; another organization's resources are NOT_FOUND, as in
every service (services.common.authz). Every write holds the organization row's lock, so membership writes of
one organization are serialized (the last-admin rule cannot be raced), and tells `on_change(org)` once committed
(the membership cache of this replica drops the organization's entries).

Bad input is reported before the caller's rights are looked at, all violations at once, and nothing is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.domain import identity as domain
from gateway.domain.errors import GroupNotFound, MemberNotFound, OrganizationRecordNotFound
from gateway.domain.identity import Group, Member, Organization
from gateway.store.uow import GatewayUnitOfWork
from services.common import authz, names, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import FieldViolation, PermissionDenied, ValidationFailed
from services.common.fieldmask import check_update_mask

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class OrganizationFields:
    display_name: str = ""
    forbid_self_approval: bool = False


@dataclass(frozen=True)
class MemberFields:
    subject: str = ""
    roles: tuple[str, ...] = ()
    display_name: str = ""


@dataclass(frozen=True)
class GroupFields:
    display_name: str = ""
    description: str = ""


class IdentityService:
    def __init__(
        self, uow_factory: Callable[[], GatewayUnitOfWork], *, on_change: Callable[[str], None] | None = None
    ) -> None:
        self._uow = uow_factory
        self._on_change = on_change or (lambda org: None)

    # --- organizations -------------------------------------------------------------------------------------------

    async def create_organization(self, caller: Principal, slug: str, fields: OrganizationFields) -> Organization:
        domain.collect(
            [
                names.slug_violation("organization_id", slug),
                domain.display_name_violation("organization.display_name", fields.display_name, required=False),
            ]
        )
        if not authz.is_platform(caller) or not authz.has_role(caller, "admin"):
            raise PermissionDenied(
                "only platform admins (a principal without organization) create organizations",
                metadata={"required_role": "admin"},
            )
        now = utcnow()
        org = Organization(
            slug=slug,
            display_name=fields.display_name.strip() or slug,
            forbid_self_approval=fields.forbid_self_approval,
            created_at=now,
            updated_at=now,
            created_by=caller.subject,
        )
        async with self._uow() as uow:
            await uow.identity.add_organization(org)
            await uow.commit()
        self._on_change(slug)
        return org

    async def get_organization(self, caller: Principal, name: str) -> Organization:
        slug = names.parse_org(name, "name")
        authz.authorize(caller, slug, "viewer", hidden=lambda: OrganizationRecordNotFound(slug))
        async with self._uow() as uow:
            org = await uow.identity.get_organization(slug)
        if org is None:
            raise OrganizationRecordNotFound(slug)
        return org

    async def update_organization(
        self, caller: Principal, name: str, fields: OrganizationFields, mask: Sequence[str]
    ) -> Organization:
        violations: list[FieldViolation | None] = []
        slug = _collecting(violations, lambda: names.parse_org(name, "organization.name"))
        paths = _collecting(violations, lambda: check_update_mask(mask, domain.ORGANIZATION_MASK))
        if paths is not None and "display_name" in paths:
            violations.append(
                domain.display_name_violation("organization.display_name", fields.display_name, required=True)
            )
        domain.collect(violations)
        assert slug is not None
        assert paths is not None
        authz.authorize(caller, slug, "admin", hidden=lambda: OrganizationRecordNotFound(slug))
        async with self._uow() as uow:
            org = await uow.identity.get_organization(slug, for_update=True)
            if org is None:
                raise OrganizationRecordNotFound(slug)
            changed = org
            if "display_name" in paths:
                changed = dataclasses.replace(changed, display_name=fields.display_name.strip())
            if "settings" in paths or "settings.forbid_self_approval" in paths:
                changed = dataclasses.replace(changed, forbid_self_approval=fields.forbid_self_approval)
            if changed != org:
                changed = dataclasses.replace(changed, updated_at=utcnow())
                await uow.identity.update_organization(changed)
                await uow.commit()
        self._on_change(slug)
        return changed

    async def list_organizations(self, caller: Principal, page_size: int, page_token: str) -> Page[Organization]:
        only = None if authz.is_platform(caller) else caller.organization_slug
        paging = pagination.Paging(page_size, page_token, pagination.TEXT, "organizations", only or "*")
        async with self._uow() as uow:
            rows = await uow.identity.list_organizations(only=only, after=paging.after, limit=paging.limit)
        return Page(*paging.page(rows, lambda org: org.slug))

    # --- members -------------------------------------------------------------------------------------------------

    async def create_member(self, caller: Principal, parent: str, fields: MemberFields) -> Member:
        violations: list[FieldViolation | None] = []
        org = _collecting(violations, lambda: names.parse_org(parent))
        violations.append(domain.subject_violation("member.subject", fields.subject))
        violations.extend(domain.role_violations("member.roles", fields.roles))
        violations.append(domain.display_name_violation("member.display_name", fields.display_name, required=False))
        domain.collect(violations)
        assert org is not None
        authz.authorize(caller, org, "admin", hidden=lambda: OrganizationRecordNotFound(org))
        now = utcnow()
        member = Member(
            member_id=domain.new_member_id(),
            organization_slug=org,
            subject=domain.normalize_subject(fields.subject),
            roles=domain.distinct_roles(fields.roles),
            display_name=fields.display_name.strip(),
            created_at=now,
            updated_at=now,
            created_by=caller.subject,
        )
        async with self._uow() as uow:
            await self._lock(uow, org)
            count, admins = await uow.identity.count_members(org)
            domain.check_keeps_an_admin(org, admins + int(member.is_admin), count + 1)
            await uow.identity.add_member(member)
            await uow.commit()
        self._on_change(org)
        return member

    async def get_member(self, caller: Principal, name: str) -> Member:
        org, member_id = domain.parse_member_name(name)
        authz.authorize(caller, org, "viewer", hidden=lambda: MemberNotFound(name))
        async with self._uow() as uow:
            member = await uow.identity.get_member(org, member_id)
        if member is None:
            raise MemberNotFound(name)
        return member

    async def update_member(self, caller: Principal, name: str, fields: MemberFields, mask: Sequence[str]) -> Member:
        violations: list[FieldViolation | None] = []
        parsed = _collecting(violations, lambda: domain.parse_member_name(name, "member.name"))
        paths = _collecting(violations, lambda: check_update_mask(mask, domain.MEMBER_MASK))
        if paths is not None and "roles" in paths:
            violations.extend(domain.role_violations("member.roles", fields.roles))
        if paths is not None and "display_name" in paths:
            violations.append(domain.display_name_violation("member.display_name", fields.display_name, required=False))
        domain.collect(violations)
        assert parsed is not None
        assert paths is not None
        org, member_id = parsed
        authz.authorize(caller, org, "admin", hidden=lambda: MemberNotFound(name))
        async with self._uow() as uow:
            await self._lock(uow, org, hidden=lambda: MemberNotFound(name))
            member = await uow.identity.get_member(org, member_id)
            if member is None:
                raise MemberNotFound(name)
            changed = member
            if "roles" in paths:
                changed = dataclasses.replace(changed, roles=domain.distinct_roles(fields.roles))
            if "display_name" in paths:
                changed = dataclasses.replace(changed, display_name=fields.display_name.strip())
            if changed != member:
                count, admins = await uow.identity.count_members(org)
                domain.check_keeps_an_admin(org, admins - int(member.is_admin) + int(changed.is_admin), count)
                changed = dataclasses.replace(changed, updated_at=utcnow())
                await uow.identity.update_member(changed)
                await uow.commit()
        self._on_change(org)
        return changed

    async def delete_member(self, caller: Principal, name: str) -> Member:
        org, member_id = domain.parse_member_name(name)
        authz.authorize(caller, org, "admin", hidden=lambda: MemberNotFound(name))
        async with self._uow() as uow:
            await self._lock(uow, org, hidden=lambda: MemberNotFound(name))
            member = await uow.identity.get_member(org, member_id)
            if member is None:
                raise MemberNotFound(name)
            count, admins = await uow.identity.count_members(org)
            domain.check_keeps_an_admin(org, admins - int(member.is_admin), count - 1)
            await uow.identity.delete_member(member_id)
            await uow.commit()
        self._on_change(org)
        return member

    async def list_members(
        self, caller: Principal, parent: str, page_size: int, page_token: str, subject: str = ""
    ) -> Page[Member]:
        org = names.parse_org(parent)
        if subject:
            domain.collect([domain.subject_violation("subject", subject)])
        wanted = domain.normalize_subject(subject) if subject else ""
        paging = pagination.Paging(page_size, page_token, pagination.TEXT, "members", org, wanted)
        authz.authorize(caller, org, "viewer", hidden=lambda: OrganizationRecordNotFound(org))
        async with self._uow() as uow:
            rows = await uow.identity.list_members(org, subject=wanted, after=paging.after, limit=paging.limit)
        return Page(*paging.page(rows, lambda member: member.subject))

    # --- groups --------------------------------------------------------------------------------------------------

    async def create_group(self, caller: Principal, parent: str, slug: str, fields: GroupFields) -> Group:
        violations: list[FieldViolation | None] = []
        org = _collecting(violations, lambda: names.parse_org(parent))
        violations.append(names.slug_violation("group_id", slug))
        violations.append(domain.display_name_violation("group.display_name", fields.display_name, required=False))
        violations.append(_description_violation(fields.description))
        domain.collect(violations)
        assert org is not None
        authz.authorize(caller, org, "admin", hidden=lambda: OrganizationRecordNotFound(org))
        now = utcnow()
        group = Group(
            group_id=domain.new_group_id(),
            organization_slug=org,
            slug=slug,
            display_name=fields.display_name.strip() or slug,
            description=fields.description.strip(),
            created_at=now,
            updated_at=now,
            created_by=caller.subject,
        )
        async with self._uow() as uow:
            await self._lock(uow, org)
            await uow.identity.add_group(group)
            await uow.commit()
        self._on_change(org)
        return group

    async def get_group(self, caller: Principal, name: str) -> Group:
        org, slug = domain.parse_group_name(name)
        authz.authorize(caller, org, "viewer", hidden=lambda: GroupNotFound(name))
        async with self._uow() as uow:
            group = await uow.identity.get_group(org, slug)
        if group is None:
            raise GroupNotFound(name)
        return group

    async def update_group(self, caller: Principal, name: str, fields: GroupFields, mask: Sequence[str]) -> Group:
        violations: list[FieldViolation | None] = []
        parsed = _collecting(violations, lambda: domain.parse_group_name(name, "group.name"))
        paths = _collecting(violations, lambda: check_update_mask(mask, domain.GROUP_MASK))
        if paths is not None and "display_name" in paths:
            violations.append(domain.display_name_violation("group.display_name", fields.display_name, required=True))
        if paths is not None and "description" in paths:
            violations.append(_description_violation(fields.description))
        domain.collect(violations)
        assert parsed is not None
        assert paths is not None
        org, slug = parsed
        authz.authorize(caller, org, "admin", hidden=lambda: GroupNotFound(name))
        async with self._uow() as uow:
            await self._lock(uow, org, hidden=lambda: GroupNotFound(name))
            group = await uow.identity.get_group(org, slug)
            if group is None:
                raise GroupNotFound(name)
            changed = group
            if "display_name" in paths:
                changed = dataclasses.replace(changed, display_name=fields.display_name.strip())
            if "description" in paths:
                changed = dataclasses.replace(changed, description=fields.description.strip())
            if changed != group:
                changed = dataclasses.replace(changed, updated_at=utcnow())
                await uow.identity.update_group(changed)
                await uow.commit()
        self._on_change(org)
        return changed

    async def delete_group(self, caller: Principal, name: str) -> Group:
        org, slug = domain.parse_group_name(name)
        authz.authorize(caller, org, "admin", hidden=lambda: GroupNotFound(name))
        async with self._uow() as uow:
            await self._lock(uow, org, hidden=lambda: GroupNotFound(name))
            group = await uow.identity.get_group(org, slug)
            if group is None:
                raise GroupNotFound(name)
            await uow.identity.delete_group(group.group_id)
            await uow.commit()
        self._on_change(org)
        return group

    async def list_groups(self, caller: Principal, parent: str, page_size: int, page_token: str) -> Page[Group]:
        org = names.parse_org(parent)
        paging = pagination.Paging(page_size, page_token, pagination.TEXT, "groups", org)
        authz.authorize(caller, org, "viewer", hidden=lambda: OrganizationRecordNotFound(org))
        async with self._uow() as uow:
            rows = await uow.identity.list_groups(org, after=paging.after, limit=paging.limit)
        return Page(*paging.page(rows, lambda group: group.slug))

    async def add_group_member(self, caller: Principal, group_name: str, subject: str) -> Group:
        return await self._change_group_members(caller, group_name, subject, add=True)

    async def remove_group_member(self, caller: Principal, group_name: str, subject: str) -> Group:
        return await self._change_group_members(caller, group_name, subject, add=False)

    async def _change_group_members(self, caller: Principal, group_name: str, subject: str, *, add: bool) -> Group:
        violations: list[FieldViolation | None] = []
        parsed = _collecting(violations, lambda: domain.parse_group_name(group_name, "group"))
        violations.append(domain.subject_violation("subject", subject))
        domain.collect(violations)
        assert parsed is not None
        org, slug = parsed
        authz.authorize(caller, org, "admin", hidden=lambda: GroupNotFound(group_name))
        wanted = domain.normalize_subject(subject)
        async with self._uow() as uow:
            await self._lock(uow, org, hidden=lambda: GroupNotFound(group_name))
            group = await uow.identity.get_group(org, slug)
            if group is None:
                raise GroupNotFound(group_name)
            member = await uow.identity.find_member(org, [wanted])
            if member is None:
                raise MemberNotFound(f"{wanted!r} of organizations/{org}")
            present = wanted in group.member_subjects
            if present != add:
                now = utcnow()
                if add:
                    await uow.identity.add_to_group(group.group_id, member.member_id, now)
                else:
                    await uow.identity.remove_from_group(group.group_id, member.member_id)
                await uow.identity.touch_group(group.group_id, now)
                await uow.commit()
                subjects = set(group.member_subjects) | {wanted} if add else set(group.member_subjects) - {wanted}
                group = dataclasses.replace(group, member_subjects=tuple(sorted(subjects)), updated_at=now)
        self._on_change(org)
        return group

    # -------------------------------------------------------------------------------------------------------------

    async def _lock(
        self,
        uow: GatewayUnitOfWork,
        org: str,
        hidden: Callable[[], Exception] | None = None,
    ) -> Organization:
        """The organization's record, locked for the transaction; NOT_FOUND (`hidden()` if given) without one."""
        found = await uow.identity.get_organization(org, for_update=True)
        if found is None:
            raise hidden() if hidden is not None else OrganizationRecordNotFound(org)
        return found


def _description_violation(value: str) -> FieldViolation | None:
    if len(value.strip()) > domain.MAX_DESCRIPTION:
        return FieldViolation("group.description", f"must be at most {domain.MAX_DESCRIPTION} characters")
    return None


def _collecting(violations: list[FieldViolation | None], parse: Callable[[], T]) -> T | None:
    """`parse()`, or None with its violations appended (so that every violation is reported at once)."""
    try:
        return parse()
    except ValidationFailed as exc:
        violations.extend(exc.violations)
        return None
