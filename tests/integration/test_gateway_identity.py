"""Organizations, members and groups through the gateway (gRPC and HTTP), on SQLite and PostgreSQL: who may write
and read them, tenant isolation (org A never sees or changes B's), invalid input (code, field, reason, nothing
written), and principal resolution: a member's roles and groups replace the token's, a stranger to an organization
with members is refused, the organization's settings travel with every principal, to the backends too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2

from agentorch.common.v1 import principal_pb2 as ppb
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.gateway.v1 import identity_pb2 as ipb
from cli.seed import seed_demo_organization
from tests.support.gateway import JWT, Platform, bearer, mint, module_platform, new_org
from tests.support.http import client
from tests.support.http import error_reason as http_reason
from tests.support.http import violations as http_violations
from tests.support.rpc import bad_request_fields, error_reason

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLATFORM_ORG = "platform-ops"
PLATFORM_JWT = JWT.model_copy(update={"platform_organization": PLATFORM_ORG})
ADMIN, APPROVER, VIEWER = ppb.ROLE_ADMIN, ppb.ROLE_APPROVER, ppb.ROLE_VIEWER


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def plat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    async with module_platform(
        request.param, tmp_path_factory, lambda: request.getfixturevalue("postgres_url"), jwt=PLATFORM_JWT
    ) as p:
        yield p


def stub(plat: Platform) -> gw_grpc.GatewayServiceStub:
    return gw_grpc.GatewayServiceStub(plat.gateway.channel)


def platform_admin() -> tuple[tuple[str, str | bytes], ...]:
    return bearer(mint(PLATFORM_ORG, "admin", subject="ops@platform.test"))


def user(org: str, *roles: str, subject: str = "alice@example.com", **claims: Any) -> tuple[tuple[str, str], ...]:
    return bearer(mint(org, *roles, subject=subject, **claims))  # type: ignore[return-value]


async def expect(call: Any, code: grpc.StatusCode, reason: str | None = None) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == code, (error.code(), error.details())
    if reason is not None:
        assert error_reason(error) == reason, error.details()
    return error


async def new_organization(plat: Platform, *, forbid_self_approval: bool = False) -> str:
    org = new_org()
    await stub(plat).CreateOrganization(
        ipb.CreateOrganizationRequest(
            organization_id=org,
            organization=ipb.Organization(
                display_name=f"Org {org}",
                settings=ipb.OrganizationSettings(forbid_self_approval=forbid_self_approval),
            ),
        ),
        metadata=platform_admin(),
    )
    return org


async def add_member(plat: Platform, org: str, subject: str, *roles: int, by: Any = None) -> ipb.Member:
    reply = await stub(plat).CreateMember(
        ipb.CreateMemberRequest(parent=f"organizations/{org}", member=ipb.Member(subject=subject, roles=list(roles))),
        metadata=by or user(org, "admin", subject="bootstrap@example.com"),
    )
    return reply.member


async def whoami(plat: Platform, metadata: Any) -> gw.WhoAmIResponse:
    reply: gw.WhoAmIResponse = await stub(plat).WhoAmI(gw.WhoAmIRequest(), metadata=metadata)
    return reply


async def contents(plat: Platform, org: str) -> dict[str, Any]:
    """Everything the identity context holds for `org`, read as a platform admin."""
    s, meta = stub(plat), platform_admin()
    try:
        record = await s.GetOrganization(ipb.GetOrganizationRequest(name=f"organizations/{org}"), metadata=meta)
        organization: Any = record.organization.SerializeToString(deterministic=True)
    except grpc.aio.AioRpcError as exc:
        organization = exc.code()
    members = await s.ListMembers(ipb.ListMembersRequest(parent=f"organizations/{org}", page_size=500), metadata=meta)
    groups = await s.ListGroups(ipb.ListGroupsRequest(parent=f"organizations/{org}", page_size=500), metadata=meta)
    return {
        "organization": organization,
        "members": [m.SerializeToString(deterministic=True) for m in members.members],
        "groups": [g.SerializeToString(deterministic=True) for g in groups.groups],
    }


# --- organizations ---------------------------------------------------------------------------------------------


async def test_a_platform_admin_creates_organizations_and_their_admins_manage_their_own(plat: Platform) -> None:
    s = stub(plat)
    org = await new_organization(plat, forbid_self_approval=True)
    got = await s.GetOrganization(ipb.GetOrganizationRequest(name=f"organizations/{org}"), metadata=user(org, "viewer"))
    assert (got.organization.slug, got.organization.display_name) == (org, f"Org {org}")
    assert got.organization.settings.forbid_self_approval is True

    mask = field_mask_pb2.FieldMask(paths=["display_name", "settings.forbid_self_approval"])
    changed = ipb.Organization(name=f"organizations/{org}", display_name="Acme Legal")
    updated = await s.UpdateOrganization(
        ipb.UpdateOrganizationRequest(organization=changed, update_mask=mask), metadata=user(org, "admin")
    )
    assert updated.organization.display_name == "Acme Legal"
    assert updated.organization.settings.forbid_self_approval is False

    # Listing: a platform admin sees every organization, anyone else only its own.
    own = await s.ListOrganizations(ipb.ListOrganizationsRequest(), metadata=user(org, "viewer"))
    assert [o.slug for o in own.organizations] == [org]
    other = await new_organization(plat)
    every: list[str] = []
    token = ""
    while True:
        page = await s.ListOrganizations(
            ipb.ListOrganizationsRequest(page_size=1, page_token=token), metadata=platform_admin()
        )
        every += [o.slug for o in page.organizations]
        token = page.next_page_token
        if not token:
            break
    assert {org, other} <= set(every)
    assert every == sorted(every)


async def test_only_platform_admins_create_organizations_and_nothing_is_written(plat: Platform) -> None:
    org = new_org()
    request = ipb.CreateOrganizationRequest(organization_id=org)
    await expect(stub(plat).CreateOrganization(request, metadata=user(org, "admin")), grpc.StatusCode.PERMISSION_DENIED)
    await expect(
        stub(plat).CreateOrganization(request, metadata=bearer(mint(PLATFORM_ORG, "viewer"))),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert (await contents(plat, org))["organization"] == grpc.StatusCode.NOT_FOUND
    await stub(plat).CreateOrganization(request, metadata=platform_admin())
    await expect(
        stub(plat).CreateOrganization(request, metadata=platform_admin()),
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_EXISTS",
    )


async def test_another_organizations_record_is_not_found_and_cannot_be_changed(plat: Platform) -> None:
    mine, theirs = await new_organization(plat), await new_organization(plat)
    before = await contents(plat, theirs)
    s, me = stub(plat), user(mine, "admin")
    await expect(
        s.GetOrganization(ipb.GetOrganizationRequest(name=f"organizations/{theirs}"), metadata=me),
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND",
    )
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    changed = ipb.Organization(name=f"organizations/{theirs}", display_name="pwned")
    await expect(
        s.UpdateOrganization(ipb.UpdateOrganizationRequest(organization=changed, update_mask=mask), metadata=me),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await contents(plat, theirs) == before


# --- members, groups and the principals they make ----------------------------------------------------------------


async def test_members_roles_and_groups_replace_the_tokens_and_strangers_are_refused(plat: Platform) -> None:
    org = await new_organization(plat, forbid_self_approval=True)
    s = stub(plat)
    # Before the first member: the token's roles hold (an IdP-managed organization), with the org's policy.
    before = await whoami(plat, user(org, "admin", subject="boss@example.com"))
    assert (list(before.roles), before.managed_membership, before.forbid_self_approval) == (["admin"], False, True)

    boss = await add_member(plat, org, "Boss@Example.com", ADMIN, by=user(org, "admin", subject="boss@example.com"))
    assert boss.subject == "boss@example.com"  # e-mails are stored lower-cased
    await add_member(plat, org, "carol@example.com", APPROVER, by=user(org, "admin", subject="boss@example.com"))
    created = await s.CreateGroup(
        ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id="legal", group=ipb.Group(description="Legal")),
        metadata=user(org, "viewer", subject="boss@example.com"),  # the token says viewer; the member is an admin
    )
    assert created.group.name == f"organizations/{org}/groups/legal"
    added = await s.AddGroupMember(
        ipb.AddGroupMemberRequest(group=created.group.name, subject="CAROL@example.com"),
        metadata=user(org, "viewer", subject="boss@example.com"),
    )
    assert list(added.group.member_subjects) == ["carol@example.com"]

    # Carol's token claims admin; she is an approver in group legal. Matched by the e-mail claim as well.
    carol = await whoami(plat, user(org, "admin", subject="idp|carol-123", email="Carol@Example.com"))
    assert (carol.subject, list(carol.roles), list(carol.groups)) == ("carol@example.com", ["approver"], ["legal"])
    assert carol.managed_membership
    assert carol.forbid_self_approval
    await expect(
        s.CreateGroup(
            ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id="x"),
            metadata=user(org, "admin", subject="carol@example.com"),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    stranger = await expect(
        whoami(plat, user(org, "admin", subject="mallory@example.com")),
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_A_MEMBER",
    )
    assert "not a member" in (stranger.details() or "")

    # Deleting a member takes it out of its groups.
    listed = await s.ListMembers(
        ipb.ListMembersRequest(parent=f"organizations/{org}", subject="carol@EXAMPLE.com"),
        metadata=user(org, "viewer", subject="boss@example.com"),
    )
    (member,) = listed.members
    assert list(member.groups) == ["legal"]
    await s.DeleteMember(
        ipb.DeleteMemberRequest(name=member.name), metadata=user(org, "admin", subject="boss@example.com")
    )
    group = await s.GetGroup(
        ipb.GetGroupRequest(name=created.group.name), metadata=user(org, "admin", subject="boss@example.com")
    )
    assert list(group.group.member_subjects) == []
    await expect(
        whoami(plat, user(org, "admin", subject="carol@example.com")), grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MEMBER"
    )


async def test_an_organization_with_members_always_keeps_an_admin(plat: Platform) -> None:
    org = await new_organization(plat)
    s, boot = stub(plat), user(org, "admin", subject="boss@example.com")
    await expect(
        add_member(plat, org, "first@example.com", VIEWER, by=boot), grpc.StatusCode.FAILED_PRECONDITION, "LAST_ADMIN"
    )
    assert (await contents(plat, org))["members"] == []
    boss = await add_member(plat, org, "boss@example.com", ADMIN, by=boot)
    await add_member(plat, org, "viv@example.com", VIEWER, by=boot)
    before = await contents(plat, org)
    await expect(
        s.DeleteMember(ipb.DeleteMemberRequest(name=boss.name), metadata=boot),
        grpc.StatusCode.FAILED_PRECONDITION,
        "LAST_ADMIN",
    )
    demote = ipb.UpdateMemberRequest(
        member=ipb.Member(name=boss.name, roles=[VIEWER]), update_mask=field_mask_pb2.FieldMask(paths=["roles"])
    )
    await expect(s.UpdateMember(demote, metadata=boot), grpc.StatusCode.FAILED_PRECONDITION, "LAST_ADMIN")
    assert await contents(plat, org) == before
    # The last member may go: the organization is then managed by its identity provider again (nobody locked out).
    alone = await new_organization(plat)
    only = await add_member(plat, alone, "solo@example.com", ADMIN, by=user(alone, "admin", subject="solo@example.com"))
    await s.DeleteMember(
        ipb.DeleteMemberRequest(name=only.name), metadata=user(alone, "admin", subject="solo@example.com")
    )
    assert (await whoami(plat, user(alone, "operator", subject="anyone@example.com"))).roles == ["operator"]


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(plat: Platform) -> None:
    org = await new_organization(plat)
    boot = user(org, "admin", subject="ann@example.com")
    ann = await add_member(plat, org, "ann@example.com", ADMIN, by=boot)
    ben = await add_member(plat, org, "ben@example.com", ADMIN, by=boot)

    async def demote(member: ipb.Member, by: str) -> Any:
        request = ipb.UpdateMemberRequest(
            member=ipb.Member(name=member.name, roles=[VIEWER]), update_mask=field_mask_pb2.FieldMask(paths=["roles"])
        )
        return await stub(plat).UpdateMember(request, metadata=user(org, "admin", subject=by))

    outcomes = await asyncio.gather(
        demote(ann, "ben@example.com"), demote(ben, "ann@example.com"), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refused) == 1, outcomes
    # Refused by the last-admin rule, or (when the other demotion committed before this call was authenticated) at
    # the edge, the caller being an admin no more: either way exactly one demotion happened.
    assert error_reason(refused[0]) in ("LAST_ADMIN", "PERMISSION_DENIED")
    members = await stub(plat).ListMembers(
        ipb.ListMembersRequest(parent=f"organizations/{org}"), metadata=platform_admin()
    )
    assert sum(ADMIN in m.roles for m in members.members) == 1


async def test_org_a_never_sees_or_changes_bs_members_and_groups(plat: Platform) -> None:
    a, b = await new_organization(plat), await new_organization(plat)
    b_admin = user(b, "admin", subject="bea@example.com")
    bea = await add_member(plat, b, "bea@example.com", ADMIN, by=b_admin)
    group = (
        await stub(plat).CreateGroup(
            ipb.CreateGroupRequest(parent=f"organizations/{b}", group_id="legal"), metadata=b_admin
        )
    ).group
    before = await contents(plat, b)
    s, a_admin = stub(plat), user(a, "admin")
    mask = field_mask_pb2.FieldMask(paths=["roles"])
    calls = {
        "GetMember": s.GetMember(ipb.GetMemberRequest(name=bea.name), metadata=a_admin),
        "UpdateMember": s.UpdateMember(
            ipb.UpdateMemberRequest(member=ipb.Member(name=bea.name, roles=[VIEWER]), update_mask=mask),
            metadata=a_admin,
        ),
        "DeleteMember": s.DeleteMember(ipb.DeleteMemberRequest(name=bea.name), metadata=a_admin),
        "ListMembers": s.ListMembers(ipb.ListMembersRequest(parent=f"organizations/{b}"), metadata=a_admin),
        "CreateMember": s.CreateMember(
            ipb.CreateMemberRequest(parent=f"organizations/{b}", member=ipb.Member(subject="x@y.z", roles=[ADMIN])),
            metadata=a_admin,
        ),
        "GetGroup": s.GetGroup(ipb.GetGroupRequest(name=group.name), metadata=a_admin),
        "UpdateGroup": s.UpdateGroup(
            ipb.UpdateGroupRequest(
                group=ipb.Group(name=group.name, description="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
            metadata=a_admin,
        ),
        "DeleteGroup": s.DeleteGroup(ipb.DeleteGroupRequest(name=group.name), metadata=a_admin),
        "ListGroups": s.ListGroups(ipb.ListGroupsRequest(parent=f"organizations/{b}"), metadata=a_admin),
        "CreateGroup": s.CreateGroup(
            ipb.CreateGroupRequest(parent=f"organizations/{b}", group_id="evil"), metadata=a_admin
        ),
        "AddGroupMember": s.AddGroupMember(
            ipb.AddGroupMemberRequest(group=group.name, subject="bea@example.com"), metadata=a_admin
        ),
        "RemoveGroupMember": s.RemoveGroupMember(
            ipb.RemoveGroupMemberRequest(group=group.name, subject="bea@example.com"), metadata=a_admin
        ),
    }
    for method, call in calls.items():
        error = await expect(call, grpc.StatusCode.NOT_FOUND)
        assert error_reason(error) == "NOT_FOUND", method
    assert await contents(plat, b) == before


async def test_groups_page_and_membership_changes_are_idempotent(plat: Platform) -> None:
    org = await new_organization(plat)
    admin = user(org, "admin", subject="boss@example.com")
    await add_member(plat, org, "boss@example.com", ADMIN, by=admin)
    s = stub(plat)
    for slug in ("alpha", "beta", "gamma"):
        await s.CreateGroup(ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id=slug), metadata=admin)
    first = await s.ListGroups(ipb.ListGroupsRequest(parent=f"organizations/{org}", page_size=2), metadata=admin)
    rest = await s.ListGroups(
        ipb.ListGroupsRequest(parent=f"organizations/{org}", page_size=2, page_token=first.next_page_token),
        metadata=admin,
    )
    assert [g.slug for g in first.groups] + [g.slug for g in rest.groups] == ["alpha", "beta", "gamma"]
    assert rest.next_page_token == ""
    name = f"organizations/{org}/groups/alpha"
    for _ in range(2):
        reply = await s.AddGroupMember(
            ipb.AddGroupMemberRequest(group=name, subject="boss@example.com"), metadata=admin
        )
        assert list(reply.group.member_subjects) == ["boss@example.com"]
    for _ in range(2):
        removed = await s.RemoveGroupMember(
            ipb.RemoveGroupMemberRequest(group=name, subject="boss@example.com"), metadata=admin
        )
        assert list(removed.group.member_subjects) == []
    await expect(
        s.ListGroups(ipb.ListGroupsRequest(parent=f"organizations/{org}", page_token="bogus"), metadata=admin),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


# --- invalid input: code, field, reason, nothing written -----------------------------------------------------------


def _invalid_cases(org: str, member: str, group: str) -> list[tuple[str, Any, str]]:
    parent = f"organizations/{org}"
    masked = field_mask_pb2.FieldMask
    return [
        ("CreateOrganization", ipb.CreateOrganizationRequest(organization_id="Not A Slug"), "organization_id"),
        (
            "CreateOrganization",
            ipb.CreateOrganizationRequest(
                organization_id=new_org(), organization=ipb.Organization(display_name="x" * 201)
            ),
            "organization.display_name",
        ),
        ("GetOrganization", ipb.GetOrganizationRequest(name="orgs/x"), "name"),
        (
            "UpdateOrganization",
            ipb.UpdateOrganizationRequest(organization=ipb.Organization(name=parent)),
            "update_mask",
        ),
        (
            "UpdateOrganization",
            ipb.UpdateOrganizationRequest(
                organization=ipb.Organization(name=parent), update_mask=masked(paths=["slug"])
            ),
            "update_mask",
        ),
        (
            "UpdateOrganization",
            ipb.UpdateOrganizationRequest(
                organization=ipb.Organization(name=parent, display_name=" "), update_mask=masked(paths=["display_name"])
            ),
            "organization.display_name",
        ),
        (
            "UpdateOrganization",
            ipb.UpdateOrganizationRequest(
                organization=ipb.Organization(name="x"), update_mask=masked(paths=["display_name"])
            ),
            "organization.name",
        ),
        ("ListOrganizations", ipb.ListOrganizationsRequest(page_size=-1), "page_size"),
        ("CreateMember", ipb.CreateMemberRequest(parent=parent, member=ipb.Member(roles=[ADMIN])), "member.subject"),
        (
            "CreateMember",
            ipb.CreateMemberRequest(parent=parent, member=ipb.Member(subject="two words", roles=[ADMIN])),
            "member.subject",
        ),
        ("CreateMember", ipb.CreateMemberRequest(parent=parent, member=ipb.Member(subject="a@b.c")), "member.roles"),
        (
            "CreateMember",
            ipb.CreateMemberRequest(parent=parent, member=ipb.Member(subject="a@b.c", roles=[ppb.ROLE_UNSPECIFIED])),
            "member.roles[0]",
        ),
        (
            "CreateMember",
            ipb.CreateMemberRequest(parent="nope", member=ipb.Member(subject="a@b.c", roles=[ADMIN])),
            "parent",
        ),
        ("GetMember", ipb.GetMemberRequest(name=f"{parent}/members/not-an-id"), "name"),
        ("UpdateMember", ipb.UpdateMemberRequest(member=ipb.Member(name=member)), "update_mask"),
        (
            "UpdateMember",
            ipb.UpdateMemberRequest(member=ipb.Member(name=member), update_mask=masked(paths=["roles"])),
            "member.roles",
        ),
        (
            "UpdateMember",
            ipb.UpdateMemberRequest(
                member=ipb.Member(name=member, subject="b@c.d"), update_mask=masked(paths=["subject"])
            ),
            "update_mask",
        ),
        ("DeleteMember", ipb.DeleteMemberRequest(name="members/x"), "name"),
        ("ListMembers", ipb.ListMembersRequest(parent=parent, page_token="junk"), "page_token"),
        ("ListMembers", ipb.ListMembersRequest(parent=""), "parent"),
        ("CreateGroup", ipb.CreateGroupRequest(parent=parent, group_id="Legal Team"), "group_id"),
        ("CreateGroup", ipb.CreateGroupRequest(parent=parent), "group_id"),
        (
            "CreateGroup",
            ipb.CreateGroupRequest(parent=parent, group_id="ok", group=ipb.Group(description="d" * 2001)),
            "group.description",
        ),
        ("GetGroup", ipb.GetGroupRequest(name=f"{parent}/groups/Bad_Slug"), "name"),
        ("UpdateGroup", ipb.UpdateGroupRequest(group=ipb.Group(name=group)), "update_mask"),
        (
            "UpdateGroup",
            ipb.UpdateGroupRequest(group=ipb.Group(name=group), update_mask=masked(paths=["member_subjects"])),
            "update_mask",
        ),
        ("DeleteGroup", ipb.DeleteGroupRequest(name=""), "name"),
        ("ListGroups", ipb.ListGroupsRequest(parent=parent, page_size=-5), "page_size"),
        ("AddGroupMember", ipb.AddGroupMemberRequest(group=group), "subject"),
        ("AddGroupMember", ipb.AddGroupMemberRequest(group="groups/legal", subject="a@b.c"), "group"),
        ("RemoveGroupMember", ipb.RemoveGroupMemberRequest(group=group, subject="@nope"), "subject"),
    ]


async def test_invalid_input_names_the_field_and_writes_nothing(plat: Platform) -> None:
    org = await new_organization(plat)
    admin = user(org, "admin", subject="boss@example.com")
    boss = await add_member(plat, org, "boss@example.com", ADMIN, by=admin)
    group = (
        await stub(plat).CreateGroup(
            ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id="legal"), metadata=admin
        )
    ).group
    before = await contents(plat, org)
    organizations_before = await stub(plat).ListOrganizations(
        ipb.ListOrganizationsRequest(page_size=500), metadata=platform_admin()
    )
    cases = _invalid_cases(org, boss.name, group.name)
    problems = []
    for method, request, field in cases:
        caller = platform_admin() if method in ("CreateOrganization", "ListOrganizations") else admin
        error = await expect(getattr(stub(plat), method)(request, metadata=caller), grpc.StatusCode.INVALID_ARGUMENT)
        reason = error_reason(error)
        fields = bad_request_fields(error)
        if field not in fields or reason not in ("VALIDATION_FAILED", "INVALID_PAGE_TOKEN"):
            problems.append(f"{method} {field}: {reason} {sorted(fields)}")
    assert not problems, problems
    identity_rpcs = {
        m.name
        for m in gw.DESCRIPTOR.services_by_name["GatewayService"].methods
        if m.input_type.file.name.endswith("identity.proto")
    }
    assert {c[0] for c in cases} == identity_rpcs  # every identity RPC has invalid-input cases
    assert await contents(plat, org) == before
    after = await stub(plat).ListOrganizations(ipb.ListOrganizationsRequest(page_size=500), metadata=platform_admin())
    assert after == organizations_before


# --- over HTTP -------------------------------------------------------------------------------------------------


async def test_the_identity_resources_over_http(plat: Platform) -> None:
    org = new_org()
    async with client(plat.gateway, mint(PLATFORM_ORG, "admin", subject="ops@platform.test")) as ops:
        created = await ops.post(
            f"/v1/organizations?organizationId={org}",
            json={"displayName": "Acme", "settings": {"forbidSelfApproval": True}},
        )
        assert created.status_code == 200, created.text
        assert created.json()["organization"]["settings"] == {"forbidSelfApproval": True}
    async with client(plat.gateway, mint(org, "admin", subject="boss@example.com")) as http:
        member = await http.post(
            f"/v1/organizations/{org}/members", json={"subject": "boss@example.com", "roles": ["ROLE_ADMIN"]}
        )
        assert member.status_code == 200, member.text
        name = member.json()["member"]["name"]
        group = await http.post(f"/v1/organizations/{org}/groups?groupId=legal", json={"displayName": "Legal"})
        assert group.status_code == 200, group.text
        added = await http.post(f"/v1/organizations/{org}/groups/legal:addMember", json={"subject": "boss@example.com"})
        assert added.json()["group"]["memberSubjects"] == ["boss@example.com"]
        patched = await http.patch(f"/v1/{name}?updateMask=displayName", json={"displayName": "The Boss"})
        assert patched.json()["member"]["displayName"] == "The Boss"
        listed = await http.get(f"/v1/organizations/{org}/members")
        assert [m["groups"] for m in listed.json()["members"]] == [["legal"]]
        me = await http.get("/v1/whoami")
        assert me.json()["groups"] == ["legal"]
        assert me.json()["managedMembership"] is True
        bad = await http.post(f"/v1/organizations/{org}/groups?groupId=Not%20Slug", json={})
        assert bad.status_code == 400
        assert http_reason(bad.json()) == "VALIDATION_FAILED"
        assert "group_id" in http_violations(bad.json())
        foreign = await http.get(f"/v1/organizations/{new_org()}/groups/legal")
        assert foreign.status_code == 404
        gone = await http.delete(f"/v1/organizations/{org}/groups/legal")
        assert gone.status_code == 200
        assert (await http.get(f"/v1/organizations/{org}/groups")).json().get("groups", []) == []
    async with client(plat.gateway, mint(org, "admin", subject="mallory@example.com")) as stranger:
        refused = await stranger.get(f"/v1/organizations/{org}/members")
        assert refused.status_code == 403
        assert http_reason(refused.json()) == "NOT_A_MEMBER"


# --- the demo seed -----------------------------------------------------------------------------------------------


async def test_the_demo_seed_creates_the_demo_organization_once_without_members(plat: Platform) -> None:
    token = mint(PLATFORM_ORG, "admin", subject="service:agentorch-up")
    first = await seed_demo_organization(plat.gateway.target, token)
    again = await seed_demo_organization(plat.gateway.target, token)
    assert (first.resource, first.created, again.created) == ("organizations/demo", True, False)
    # No members: the dev token's roles keep working in the demo organization.
    who = await whoami(plat, user("demo", "admin", subject="dev@agentorch.local"))
    assert (list(who.roles), who.managed_membership) == (["admin"], False)
