"""Repository of organizations, members and groups (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import GroupAlreadyExists, MemberAlreadyExists, OrganizationAlreadyExists
from gateway.domain.identity import Group, Member, Organization
from gateway.store.tables import group_members, groups, members, organizations
from services.common.db import utc


class IdentityRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    # --- organizations -------------------------------------------------------------------------------------------

    async def add_organization(self, org: Organization) -> None:
        try:
            await self._conn.execute(
                organizations.insert().values(
                    slug=org.slug,
                    display_name=org.display_name,
                    forbid_self_approval=org.forbid_self_approval,
                    created_by=org.created_by,
                    created_at=org.created_at,
                    updated_at=org.updated_at,
                )
            )
        except IntegrityError:
            raise OrganizationAlreadyExists(org.slug) from None

    async def get_organization(self, slug: str, *, for_update: bool = False) -> Organization | None:
        """With `for_update`, the row lock serializes every membership write of the organization."""
        query = sa.select(organizations).where(organizations.c.slug == slug)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_org(row._mapping) if row else None

    async def update_organization(self, org: Organization) -> None:
        await self._conn.execute(
            organizations.update()
            .where(organizations.c.slug == org.slug)
            .values(
                display_name=org.display_name, forbid_self_approval=org.forbid_self_approval, updated_at=org.updated_at
            )
        )

    async def list_organizations(self, *, only: str | None, after: str | None, limit: int) -> list[Organization]:
        query = sa.select(organizations)
        if only is not None:
            query = query.where(organizations.c.slug == only)
        if after is not None:
            query = query.where(organizations.c.slug > after)
        query = query.order_by(organizations.c.slug).limit(limit)
        return [_to_org(row._mapping) for row in await self._conn.execute(query)]

    # --- members -------------------------------------------------------------------------------------------------

    async def add_member(self, member: Member) -> None:
        try:
            await self._conn.execute(
                members.insert().values(
                    member_id=member.member_id,
                    organization_slug=member.organization_slug,
                    subject=member.subject,
                    display_name=member.display_name,
                    roles=list(member.roles),
                    created_by=member.created_by,
                    created_at=member.created_at,
                    updated_at=member.updated_at,
                )
            )
        except IntegrityError:
            raise MemberAlreadyExists(member.organization_slug, member.subject) from None

    async def get_member(self, org: str, member_id: str) -> Member | None:
        query = sa.select(members).where(members.c.organization_slug == org, members.c.member_id == member_id)
        row = (await self._conn.execute(query)).first()
        return (await self._with_groups([_to_member(row._mapping)]))[0] if row else None

    async def find_member(self, org: str, subjects: Sequence[str]) -> Member | None:
        """The member with the first of `subjects` (already normalized) that has one."""
        wanted = [s for s in dict.fromkeys(subjects) if s]
        if not wanted:
            return None
        query = sa.select(members).where(members.c.organization_slug == org, members.c.subject.in_(wanted))
        found = {row._mapping["subject"]: _to_member(row._mapping) for row in await self._conn.execute(query)}
        for subject in wanted:
            if subject in found:
                return (await self._with_groups([found[subject]]))[0]
        return None

    async def update_member(self, member: Member) -> None:
        await self._conn.execute(
            members.update()
            .where(members.c.member_id == member.member_id)
            .values(roles=list(member.roles), display_name=member.display_name, updated_at=member.updated_at)
        )

    async def delete_member(self, member_id: str) -> None:
        # The membership rows go by the foreign key's cascade on PostgreSQL and SQLite (foreign_keys=ON); deleted
        # explicitly as well, so the rule does not depend on a connection setting.
        await self._conn.execute(group_members.delete().where(group_members.c.member_id == member_id))
        await self._conn.execute(members.delete().where(members.c.member_id == member_id))

    async def list_members(self, org: str, *, subject: str, after: str | None, limit: int) -> list[Member]:
        query = sa.select(members).where(members.c.organization_slug == org)
        if subject:
            query = query.where(members.c.subject == subject)
        if after is not None:
            query = query.where(members.c.subject > after)
        query = query.order_by(members.c.subject).limit(limit)
        return await self._with_groups([_to_member(row._mapping) for row in await self._conn.execute(query)])

    async def count_members(self, org: str) -> tuple[int, int]:
        """(members, admin members) of the organization."""
        rows = (await self._conn.execute(sa.select(members.c.roles).where(members.c.organization_slug == org))).all()
        return len(rows), sum(1 for (roles,) in rows if "admin" in roles)

    async def has_members(self, org: str) -> bool:
        query = sa.select(members.c.member_id).where(members.c.organization_slug == org).limit(1)
        return (await self._conn.execute(query)).first() is not None

    async def _with_groups(self, found: list[Member]) -> list[Member]:
        if not found:
            return found
        query = (
            sa.select(group_members.c.member_id, groups.c.slug)
            .join(groups, groups.c.group_id == group_members.c.group_id)
            .where(group_members.c.member_id.in_([m.member_id for m in found]))
        )
        slugs: dict[str, list[str]] = {}
        for member_id, slug in await self._conn.execute(query):
            slugs.setdefault(member_id, []).append(slug)
        return [_replace_groups(m, tuple(sorted(slugs.get(m.member_id, ())))) for m in found]

    # --- groups --------------------------------------------------------------------------------------------------

    async def add_group(self, group: Group) -> None:
        try:
            await self._conn.execute(
                groups.insert().values(
                    group_id=group.group_id,
                    organization_slug=group.organization_slug,
                    slug=group.slug,
                    display_name=group.display_name,
                    description=group.description,
                    created_by=group.created_by,
                    created_at=group.created_at,
                    updated_at=group.updated_at,
                )
            )
        except IntegrityError:
            raise GroupAlreadyExists(group.name) from None

    async def get_group(self, org: str, slug: str) -> Group | None:
        query = sa.select(groups).where(groups.c.organization_slug == org, groups.c.slug == slug)
        row = (await self._conn.execute(query)).first()
        return (await self._with_members([_to_group(row._mapping)]))[0] if row else None

    async def update_group(self, group: Group) -> None:
        await self._conn.execute(
            groups.update()
            .where(groups.c.group_id == group.group_id)
            .values(display_name=group.display_name, description=group.description, updated_at=group.updated_at)
        )

    async def delete_group(self, group_id: str) -> None:
        await self._conn.execute(group_members.delete().where(group_members.c.group_id == group_id))
        await self._conn.execute(groups.delete().where(groups.c.group_id == group_id))

    async def list_groups(self, org: str, *, after: str | None, limit: int) -> list[Group]:
        query = sa.select(groups).where(groups.c.organization_slug == org)
        if after is not None:
            query = query.where(groups.c.slug > after)
        query = query.order_by(groups.c.slug).limit(limit)
        return await self._with_members([_to_group(row._mapping) for row in await self._conn.execute(query)])

    async def add_to_group(self, group_id: str, member_id: str, at: dt.datetime) -> None:
        """Idempotent (the caller holds the organization's lock, so the check and the insert do not race)."""
        exists = sa.select(group_members.c.group_id).where(
            group_members.c.group_id == group_id, group_members.c.member_id == member_id
        )
        if (await self._conn.execute(exists)).first() is None:
            await self._conn.execute(
                group_members.insert().values(group_id=group_id, member_id=member_id, created_at=at)
            )

    async def remove_from_group(self, group_id: str, member_id: str) -> None:
        await self._conn.execute(
            group_members.delete().where(group_members.c.group_id == group_id, group_members.c.member_id == member_id)
        )

    async def touch_group(self, group_id: str, at: dt.datetime) -> None:
        await self._conn.execute(groups.update().where(groups.c.group_id == group_id).values(updated_at=at))

    async def _with_members(self, found: list[Group]) -> list[Group]:
        if not found:
            return found
        query = (
            sa.select(group_members.c.group_id, members.c.subject)
            .join(members, members.c.member_id == group_members.c.member_id)
            .where(group_members.c.group_id.in_([g.group_id for g in found]))
        )
        subjects: dict[str, list[str]] = {}
        for group_id, subject in await self._conn.execute(query):
            subjects.setdefault(group_id, []).append(subject)
        return [_replace_members(g, tuple(sorted(subjects.get(g.group_id, ())))) for g in found]


def _to_org(row: Any) -> Organization:
    return Organization(
        slug=row["slug"],
        display_name=row["display_name"],
        forbid_self_approval=bool(row["forbid_self_approval"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        created_by=row["created_by"],
    )


def _to_member(row: Any) -> Member:
    return Member(
        member_id=row["member_id"],
        organization_slug=row["organization_slug"],
        subject=row["subject"],
        roles=tuple(row["roles"]),
        display_name=row["display_name"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        created_by=row["created_by"],
    )


def _to_group(row: Any) -> Group:
    return Group(
        group_id=row["group_id"],
        organization_slug=row["organization_slug"],
        slug=row["slug"],
        display_name=row["display_name"],
        description=row["description"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        created_by=row["created_by"],
    )


def _replace_groups(member: Member, slugs: tuple[str, ...]) -> Member:
    return dataclasses.replace(member, groups=slugs)


def _replace_members(group: Group, subjects: tuple[str, ...]) -> Group:
    return dataclasses.replace(group, member_subjects=subjects)
