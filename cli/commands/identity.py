"""`agentorch orgs …`, `agentorch members …` and `agentorch groups …`: the gateway's identity context.

Organizations are created by platform admins (`orgs create`); an organization's admins manage its members and
groups. Once an organization has a member, its users' roles and groups come from these records (the roles in their
tokens are ignored) and a user who is not a member is refused: add yourself first, as an admin
(`agentorch members add you@example.com --role admin`). A member is named by its subject (an e-mail or the
identity provider's user id) or by its resource name; a group by its slug.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf import field_mask_pb2

from agentorch.common.v1 import principal_pb2 as ppb
from agentorch.gateway.v1 import identity_pb2 as ipb
from cli.commands.base import Context, add_limit
from cli.gateway_client import UsageError
from cli.render import pairs, table, when

ROLES = ("viewer", "author", "operator", "approver", "admin")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    orgs = commands.add_parser("orgs", help="organizations (create/list: platform admins)")
    osub = orgs.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = osub.add_parser("create", parents=[common], help="create an organization record (platform admin)")
    create.add_argument("slug")
    create.add_argument("--display-name", default="")
    _self_approval(create)
    create.set_defaults(handler=create_org)
    get = osub.add_parser("get", parents=[common], help="an organization (default: yours)")
    get.add_argument("slug", nargs="?", default="")
    get.set_defaults(handler=get_org)
    listing = osub.add_parser("list", parents=[common], help="organizations (yours, or all for platform admins)")
    add_limit(listing)
    listing.set_defaults(handler=list_orgs)
    update = osub.add_parser("update", parents=[common], help="change the display name or settings (admin)")
    update.add_argument("slug", nargs="?", default="")
    update.add_argument("--display-name")
    _self_approval(update)
    update.set_defaults(handler=update_org)

    members = commands.add_parser("members", help="the organization's members and their roles (writes: admin)")
    msub = members.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = msub.add_parser("add", parents=[common], help="add a member")
    add.add_argument("subject", help="an e-mail or the identity provider's subject (JWT sub)")
    add.add_argument("--role", action="append", choices=ROLES, required=True, help="repeatable")
    add.add_argument("--display-name", default="")
    add.set_defaults(handler=add_member)
    mlist = msub.add_parser("list", parents=[common], help="members, by subject")
    add_limit(mlist)
    mlist.set_defaults(handler=list_members)
    mget = msub.add_parser("get", parents=[common], help="a member")
    mget.add_argument("member", help="subject or resource name")
    mget.set_defaults(handler=get_member)
    mupdate = msub.add_parser("update", parents=[common], help="change a member's roles or display name")
    mupdate.add_argument("member", help="subject or resource name")
    mupdate.add_argument("--role", action="append", choices=ROLES, help="the new roles (repeatable; replaces them)")
    mupdate.add_argument("--display-name")
    mupdate.set_defaults(handler=update_member)
    remove = msub.add_parser("remove", parents=[common], help="remove a member (and it from every group)")
    remove.add_argument("member", help="subject or resource name")
    remove.set_defaults(handler=remove_member)

    groups = commands.add_parser("groups", help="named sets of members, e.g. legal-reviewers (writes: admin)")
    gsub = groups.add_subparsers(dest="action", metavar="ACTION", required=True)
    gcreate = gsub.add_parser("create", parents=[common], help="create a group")
    gcreate.add_argument("slug")
    gcreate.add_argument("--display-name", default="")
    gcreate.add_argument("--description", default="")
    gcreate.set_defaults(handler=create_group)
    glist = gsub.add_parser("list", parents=[common], help="groups, by slug")
    add_limit(glist)
    glist.set_defaults(handler=list_groups)
    gget = gsub.add_parser("get", parents=[common], help="a group and its members")
    gget.add_argument("group", help="slug or resource name")
    gget.set_defaults(handler=get_group)
    gupdate = gsub.add_parser("update", parents=[common], help="change a group's display name or description")
    gupdate.add_argument("group", help="slug or resource name")
    gupdate.add_argument("--display-name")
    gupdate.add_argument("--description")
    gupdate.set_defaults(handler=update_group)
    gdelete = gsub.add_parser("delete", parents=[common], help="delete a group (its members stay members)")
    gdelete.add_argument("group", help="slug or resource name")
    gdelete.set_defaults(handler=delete_group)
    for verb, handler, text in (
        ("add-member", add_group_member, "add a member to a group"),
        ("remove-member", remove_group_member, "remove a member from a group"),
    ):
        change = gsub.add_parser(verb, parents=[common], help=text)
        change.add_argument("group", help="slug or resource name")
        change.add_argument("subject", help="the member's subject")
        change.set_defaults(handler=handler)


def _self_approval(parser: argparse.ArgumentParser) -> None:
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--forbid-self-approval",
        action="store_true",
        help="checkpoints default to four-eyes: a run's launcher cannot approve it",
    )
    choice.add_argument("--allow-self-approval", action="store_true", help="the opposite (the default)")


def _forbid(args: argparse.Namespace) -> bool | None:
    """The self-approval setting asked for: True, False, or None when neither flag was given."""
    if args.forbid_self_approval:
        return True
    return False if args.allow_self_approval else None


# --- organizations -----------------------------------------------------------------------------------------------


def org_lines(o: ipb.Organization) -> list[str]:
    return pairs(
        [
            ("name", o.name),
            ("display name", o.display_name),
            ("forbid self-approval", o.settings.forbid_self_approval),
            ("created", when(o.create_time)),
            ("updated", when(o.update_time)),
        ]
    )


def _org_name(ctx: Context, slug: str) -> str:
    if slug.startswith("organizations/"):
        return slug
    return f"organizations/{slug}" if slug else ctx.parent


def create_org(ctx: Context, args: argparse.Namespace) -> int:
    settings = ipb.OrganizationSettings(forbid_self_approval=bool(_forbid(args)))
    request = ipb.CreateOrganizationRequest(
        organization_id=args.slug.removeprefix("organizations/"),
        organization=ipb.Organization(display_name=args.display_name, settings=settings),
    )
    response = ctx.call(ctx.client.gateway.CreateOrganization, request)
    ctx.output.show(response, org_lines(response.organization))
    return 0


def get_org(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.GetOrganizationRequest(name=_org_name(ctx, args.slug))
    response = ctx.call(ctx.client.gateway.GetOrganization, request)
    ctx.output.show(response, org_lines(response.organization))
    return 0


def list_orgs(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.collect(
        ctx.client.gateway.ListOrganizations, ipb.ListOrganizationsRequest(), "organizations", args.limit
    )
    rows = [
        (o.slug, o.display_name, "yes" if o.settings.forbid_self_approval else "no", when(o.create_time))
        for o in response.organizations
    ]
    ctx.output.show(response, table(("SLUG", "DISPLAY NAME", "FORBID SELF-APPROVAL", "CREATED"), rows))
    return 0


def update_org(ctx: Context, args: argparse.Namespace) -> int:
    org = ipb.Organization(name=_org_name(ctx, args.slug))
    paths = []
    if args.display_name is not None:
        org.display_name = args.display_name
        paths.append("display_name")
    forbid = _forbid(args)
    if forbid is not None:
        org.settings.forbid_self_approval = forbid
        paths.append("settings.forbid_self_approval")
    if not paths:
        raise UsageError("give --display-name and/or --forbid-self-approval / --allow-self-approval")
    request = ipb.UpdateOrganizationRequest(organization=org, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = ctx.call(ctx.client.gateway.UpdateOrganization, request)
    ctx.output.show(response, org_lines(response.organization))
    return 0


# --- members -----------------------------------------------------------------------------------------------------


def _roles(values: list[str]) -> list[Any]:
    return [ppb.Role.Value(f"ROLE_{r.upper()}") for r in values]


def _role_names(values: Any) -> list[str]:
    return [ppb.Role.Name(v).removeprefix("ROLE_").lower() for v in values]


def member_lines(m: ipb.Member) -> list[str]:
    return pairs(
        [
            ("name", m.name),
            ("subject", m.subject),
            ("display name", m.display_name),
            ("roles", _role_names(m.roles)),
            ("groups", list(m.groups) or "-"),
            ("created", when(m.create_time)),
            ("updated", when(m.update_time)),
        ]
    )


def _member_name(ctx: Context, ref: str) -> str:
    """A member's resource name, or the one of the member with this subject (looked up)."""
    if ref.startswith("organizations/"):
        return ref
    found = ctx.call(ctx.client.gateway.ListMembers, ipb.ListMembersRequest(parent=ctx.parent, subject=ref))
    if not found.members:
        raise UsageError(f"{ctx.parent} has no member {ref!r} (see `agentorch members list`)")
    name: str = found.members[0].name
    return name


def add_member(ctx: Context, args: argparse.Namespace) -> int:
    member = ipb.Member(subject=args.subject, roles=_roles(args.role), display_name=args.display_name)
    response = ctx.call(ctx.client.gateway.CreateMember, ipb.CreateMemberRequest(parent=ctx.parent, member=member))
    ctx.output.show(response, member_lines(response.member))
    return 0


def list_members(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.ListMembersRequest(parent=ctx.parent)
    response = ctx.collect(ctx.client.gateway.ListMembers, request, "members", args.limit)
    rows = [
        (m.subject, m.display_name, _role_names(m.roles), list(m.groups), m.name.rsplit("/", 1)[-1])
        for m in response.members
    ]
    ctx.output.show(response, table(("SUBJECT", "DISPLAY NAME", "ROLES", "GROUPS", "ID"), rows))
    return 0


def get_member(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.GetMemberRequest(name=_member_name(ctx, args.member))
    response = ctx.call(ctx.client.gateway.GetMember, request)
    ctx.output.show(response, member_lines(response.member))
    return 0


def update_member(ctx: Context, args: argparse.Namespace) -> int:
    member = ipb.Member(name=_member_name(ctx, args.member))
    paths = []
    if args.role:
        member.roles.extend(_roles(args.role))
        paths.append("roles")
    if args.display_name is not None:
        member.display_name = args.display_name
        paths.append("display_name")
    if not paths:
        raise UsageError("give --role and/or --display-name")
    request = ipb.UpdateMemberRequest(member=member, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = ctx.call(ctx.client.gateway.UpdateMember, request)
    ctx.output.show(response, member_lines(response.member))
    return 0


def remove_member(ctx: Context, args: argparse.Namespace) -> int:
    name = _member_name(ctx, args.member)
    response = ctx.call(ctx.client.gateway.DeleteMember, ipb.DeleteMemberRequest(name=name))
    ctx.output.show(response, [f"removed {response.member.subject} ({name})"])
    return 0


# --- groups ------------------------------------------------------------------------------------------------------


def group_lines(g: ipb.Group) -> list[str]:
    return pairs(
        [
            ("name", g.name),
            ("display name", g.display_name),
            ("description", g.description),
            ("members", list(g.member_subjects) or "-"),
            ("created", when(g.create_time)),
            ("updated", when(g.update_time)),
        ]
    )


def _group_name(ctx: Context, ref: str) -> str:
    return ref if ref.startswith("organizations/") else f"{ctx.parent}/groups/{ref.removeprefix('group:')}"


def create_group(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.CreateGroupRequest(
        parent=ctx.parent,
        group_id=args.slug,
        group=ipb.Group(display_name=args.display_name, description=args.description),
    )
    response = ctx.call(ctx.client.gateway.CreateGroup, request)
    ctx.output.show(response, group_lines(response.group))
    return 0


def list_groups(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.collect(
        ctx.client.gateway.ListGroups, ipb.ListGroupsRequest(parent=ctx.parent), "groups", args.limit
    )
    rows = [(g.slug, g.display_name, len(g.member_subjects), g.description) for g in response.groups]
    ctx.output.show(response, table(("SLUG", "DISPLAY NAME", "MEMBERS", "DESCRIPTION"), rows))
    return 0


def get_group(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.gateway.GetGroup, ipb.GetGroupRequest(name=_group_name(ctx, args.group)))
    ctx.output.show(response, group_lines(response.group))
    return 0


def update_group(ctx: Context, args: argparse.Namespace) -> int:
    group = ipb.Group(name=_group_name(ctx, args.group))
    paths = []
    if args.display_name is not None:
        group.display_name = args.display_name
        paths.append("display_name")
    if args.description is not None:
        group.description = args.description
        paths.append("description")
    if not paths:
        raise UsageError("give --display-name and/or --description")
    request = ipb.UpdateGroupRequest(group=group, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = ctx.call(ctx.client.gateway.UpdateGroup, request)
    ctx.output.show(response, group_lines(response.group))
    return 0


def delete_group(ctx: Context, args: argparse.Namespace) -> int:
    name = _group_name(ctx, args.group)
    response = ctx.call(ctx.client.gateway.DeleteGroup, ipb.DeleteGroupRequest(name=name))
    ctx.output.show(response, [f"deleted {name}"])
    return 0


def add_group_member(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.AddGroupMemberRequest(group=_group_name(ctx, args.group), subject=args.subject)
    response = ctx.call(ctx.client.gateway.AddGroupMember, request)
    ctx.output.show(response, group_lines(response.group))
    return 0


def remove_group_member(ctx: Context, args: argparse.Namespace) -> int:
    request = ipb.RemoveGroupMemberRequest(group=_group_name(ctx, args.group), subject=args.subject)
    response = ctx.call(ctx.client.gateway.RemoveGroupMember, request)
    ctx.output.show(response, group_lines(response.group))
    return 0
