"""Protobuf ⇄ domain conversion for the identity RPCs (organizations, members, groups)."""

from __future__ import annotations

from agentorch.common.v1 import principal_pb2
from agentorch.gateway.v1 import identity_pb2 as ipb
from gateway.api.convert import timestamp
from gateway.app.identity import GroupFields, MemberFields, OrganizationFields
from gateway.domain.identity import Group, Member, Organization

_ROLE_NAMES = {v: k.removeprefix("ROLE_").lower() for k, v in principal_pb2.Role.items() if v}
_ROLE_VALUES = {name: value for value, name in _ROLE_NAMES.items()}


def role_names(values: list[int]) -> tuple[str, ...]:
    """Role enum values → names; ROLE_UNSPECIFIED (or a number the enum lacks) stays visible as `unspecified`, so
    that validation names its index."""
    return tuple(_ROLE_NAMES.get(v, "unspecified") for v in values)


def organization_fields(message: ipb.Organization) -> OrganizationFields:
    return OrganizationFields(message.display_name, message.settings.forbid_self_approval)


def member_fields(message: ipb.Member) -> MemberFields:
    return MemberFields(message.subject, role_names(list(message.roles)), message.display_name)


def group_fields(message: ipb.Group) -> GroupFields:
    return GroupFields(message.display_name, message.description)


def organization_message(org: Organization) -> ipb.Organization:
    return ipb.Organization(
        name=org.name,
        slug=org.slug,
        display_name=org.display_name,
        settings=ipb.OrganizationSettings(forbid_self_approval=org.forbid_self_approval),
        create_time=timestamp(org.created_at),
        update_time=timestamp(org.updated_at),
    )


def member_message(member: Member) -> ipb.Member:
    return ipb.Member(
        name=member.name,
        subject=member.subject,
        roles=[_ROLE_VALUES[r] for r in member.roles if r in _ROLE_VALUES],
        display_name=member.display_name,
        create_time=timestamp(member.created_at),
        update_time=timestamp(member.updated_at),
        groups=list(member.groups),
    )


def group_message(group: Group) -> ipb.Group:
    return ipb.Group(
        name=group.name,
        slug=group.slug,
        display_name=group.display_name,
        description=group.description,
        member_subjects=list(group.member_subjects),
        create_time=timestamp(group.created_at),
        update_time=timestamp(group.updated_at),
    )
