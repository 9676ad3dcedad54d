"""Tenant scoping and roles, enforced by every service on every call (defense in depth behind the gateway).

A caller of organization A never learns that a resource of organization B exists: a foreign resource is
reported exactly as a missing one (NOT_FOUND). A principal without an organization is a platform principal and
may act in any organization with its roles.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common import context
from services.common.context import Principal
from services.common.errors import PermissionDenied, ServiceError, Unauthenticated

ROLES = ("viewer", "author", "operator", "approver", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def rank(principal: Principal) -> int:
    return max((_RANK.get(r, 0) for r in principal.roles), default=0)


def has_role(principal: Principal, role: str) -> bool:
    return rank(principal) >= _RANK[role]


def require_principal() -> Principal:
    principal = context.current().principal
    if principal is None:
        raise no_principal()
    return principal


def no_principal() -> Unauthenticated:
    """The answer to a call without a principal: the shared interceptor gives it before any handler runs."""
    return Unauthenticated("this call needs a signed principal: call through the gateway or as a platform service")


def is_platform(principal: Principal) -> bool:
    return not principal.organization_slug


def authorize(
    principal: Principal,
    organization_slug: str,
    role: str,
    *,
    hidden: Callable[[], ServiceError],
    shared_read: bool = False,
) -> None:
    """Allow `principal` to act with `role` on a resource of `organization_slug`, or raise.

    `hidden()` builds the NOT_FOUND error to raise when the resource belongs to another organization.
    `shared_read` marks platform-wide resources (organization ""), readable by every principal.
    """
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}")
    foreign = not is_platform(principal) and principal.organization_slug != organization_slug
    if foreign and shared_read and organization_slug == "":
        if role != "viewer":
            raise PermissionDenied("platform-wide resources can only be changed by platform principals")
    elif foreign:
        raise hidden()
    if rank(principal) < _RANK[role]:
        scope = f"organization {organization_slug!r}" if organization_slug else "the platform"
        raise PermissionDenied(f"this call needs the {role} role in {scope}", metadata={"required_role": role})
