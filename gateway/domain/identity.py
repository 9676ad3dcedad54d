"""Organizations, members and groups: the records, their names and the rules for writing them. No I/O.

Subjects: a member is known by its identity-provider subject (the JWT `sub`) or by an e-mail (matched against the
JWT `email` claim). A subject with an `@` is an e-mail and is stored and compared lower-cased (users expect
`Alice@Example.com` and `alice@example.com` to be one person); any other subject is an opaque IdP id, kept and
compared exactly as given.

Who manages roles: an organization with at least one member gets its users' roles and groups from these records
(`managed`); one without members keeps the roles of its identity provider's tokens. Such an organization always
keeps an admin member, so that someone can still manage it (`check_keeps_an_admin`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.domain.errors import LastAdmin
from services.common import authz, names
from services.common.context import OrganizationPolicy
from services.common.errors import FieldViolation, ValidationFailed

MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 2000
MAX_SUBJECT = 200
MEMBER_ID_BYTES = 8  # 16 hex characters

MEMBER_ID = r"[0-9a-f]{16}"
MEMBER = names.NamePattern("organizations/{org}/members/{member_id}", member_id=MEMBER_ID)
GROUP = names.NamePattern("organizations/{org}/groups/{group}")

ORGANIZATION_MASK = ("display_name", "settings", "settings.forbid_self_approval")
MEMBER_MASK = ("roles", "display_name")
GROUP_MASK = ("display_name", "description")


@dataclass(frozen=True)
class Organization:
    slug: str
    display_name: str
    forbid_self_approval: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str = ""

    @property
    def name(self) -> str:
        return names.ORGANIZATION.format(org=self.slug)

    @property
    def policy(self) -> OrganizationPolicy:
        return OrganizationPolicy(forbid_self_approval=self.forbid_self_approval)


@dataclass(frozen=True)
class Member:
    member_id: str
    organization_slug: str
    subject: str
    roles: tuple[str, ...]
    display_name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    groups: tuple[str, ...] = ()  # slugs, sorted (read with the member)
    created_by: str = ""

    @property
    def name(self) -> str:
        return MEMBER.format(org=self.organization_slug, member_id=self.member_id)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True)
class Group:
    group_id: str  # internal key of the membership rows
    organization_slug: str
    slug: str
    display_name: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    member_subjects: tuple[str, ...] = ()  # sorted (read with the group)
    created_by: str = ""

    @property
    def name(self) -> str:
        return GROUP.format(org=self.organization_slug, group=self.slug)


@dataclass(frozen=True)
class Membership:
    """What the gateway knows of a caller's organization: its record (None: no record), whether its members are
    managed here, and the caller's member record (None: not a member, or not looked up)."""

    organization: Organization | None
    managed: bool
    member: Member | None

    @property
    def policy(self) -> OrganizationPolicy:
        return self.organization.policy if self.organization is not None else OrganizationPolicy()


def normalize_subject(subject: str) -> str:
    """The stored form of a subject: e-mails (with an `@`) lower-cased, anything else as given (trimmed)."""
    value = subject.strip()
    return value.lower() if "@" in value else value


def new_member_id() -> str:
    return secrets.token_hex(MEMBER_ID_BYTES)


def new_group_id() -> str:
    return secrets.token_hex(MEMBER_ID_BYTES)


# --- validation ----------------------------------------------------------------------------------------------------


def display_name_violation(field: str, value: str, *, required: bool) -> FieldViolation | None:
    text = value.strip()
    if not text:
        return FieldViolation(field, "is required") if required else None
    if len(text) > MAX_DISPLAY_NAME:
        return FieldViolation(field, f"must be at most {MAX_DISPLAY_NAME} characters")
    if not text.isprintable():
        return FieldViolation(field, "must not contain control characters")
    return None


def subject_violation(field: str, value: str) -> FieldViolation | None:
    text = value.strip()
    if not text:
        return FieldViolation(field, "is required: the identity provider's subject (JWT sub) or an e-mail")
    if len(text) > MAX_SUBJECT:
        return FieldViolation(field, f"must be at most {MAX_SUBJECT} characters")
    if not text.isprintable() or any(c.isspace() for c in text):
        return FieldViolation(field, "must not contain spaces or control characters")
    if "@" in text and (text.startswith("@") or text.endswith("@") or text.count("@") > 1):
        return FieldViolation(field, "is not an e-mail address (one '@' between a name and a domain)")
    return None


def role_violations(field: str, roles: Sequence[str]) -> list[FieldViolation]:
    """`roles` are role names (viewer…admin) already mapped from the enum; unknown ones arrive as their number."""
    if not roles:
        return [FieldViolation(field, f"needs at least one role of {', '.join(authz.ROLES)}")]
    return [
        FieldViolation(f"{field}[{index}]", f"must be one of {', '.join(authz.ROLES)}")
        for index, role in enumerate(roles)
        if role not in authz.ROLES
    ]


def collect(violations: Sequence[FieldViolation | None]) -> None:
    found = [v for v in violations if v is not None]
    if found:
        raise ValidationFailed(found)


def parse_member_name(name: str, field: str = "name") -> tuple[str, str]:
    found = MEMBER.parse(name, field)
    return found["org"], found["member_id"]


def parse_group_name(name: str, field: str = "name") -> tuple[str, str]:
    found = GROUP.parse(name, field)
    return found["org"], found["group"]


def distinct_roles(roles: Sequence[str]) -> tuple[str, ...]:
    """Known roles in rank order, each once."""
    return tuple(r for r in authz.ROLES if r in set(roles))


# --- rules ---------------------------------------------------------------------------------------------------------


def check_keeps_an_admin(organization_slug: str, admins_after: int, members_after: int) -> None:
    """An organization whose members are managed here keeps at least one admin member."""
    if members_after > 0 and admins_after == 0:
        raise LastAdmin(
            organization_slug,
            f"organization {organization_slug!r} would have members but no admin member: its users' roles come from "
            "its members, so nobody could manage it; keep (or add first) a member with the admin role",
        )
