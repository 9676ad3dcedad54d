"""The identity context without a database: subjects, the last-admin rule, the e-mail claim, and principal
resolution with its per-replica cache (a fake unit of work counts the reads)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from gateway.auth.jwt import verified_email
from gateway.auth.membership import MembershipDirectory
from gateway.domain import identity
from gateway.domain.errors import LastAdmin, NotAMember
from gateway.domain.identity import Member, Organization
from gateway.store.uow import GatewayUnitOfWork
from services.common.context import OrganizationPolicy, Principal

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def test_email_subjects_are_lower_cased_and_idp_subjects_kept_as_given() -> None:
    assert identity.normalize_subject(" Alice@Example.COM ") == "alice@example.com"
    assert identity.normalize_subject("auth0|AbC123") == "auth0|AbC123"


@pytest.mark.parametrize("subject", ["", " ", "two words", "@example.com", "alice@", "a@b@c", "x" * 201, "tab\there"])
def test_bad_subjects_are_named(subject: str) -> None:
    violation = identity.subject_violation("member.subject", subject)
    assert violation is not None
    assert violation.field == "member.subject"


def test_roles_need_one_known_role_and_are_kept_in_rank_order() -> None:
    assert identity.role_violations("member.roles", [])[0].field == "member.roles"
    assert [v.field for v in identity.role_violations("member.roles", ["admin", "unspecified"])] == ["member.roles[1]"]
    assert identity.distinct_roles(["admin", "viewer", "admin"]) == ("viewer", "admin")


def test_an_organization_with_members_keeps_an_admin_and_one_without_members_needs_none() -> None:
    identity.check_keeps_an_admin("acme", admins_after=1, members_after=3)
    identity.check_keeps_an_admin("acme", admins_after=0, members_after=0)
    with pytest.raises(LastAdmin) as caught:
        identity.check_keeps_an_admin("acme", admins_after=0, members_after=2)
    assert caught.value.reason == "LAST_ADMIN"


def test_an_unverified_or_odd_email_claim_is_not_used() -> None:
    assert verified_email({"email": "a@b.c"}, "email") == "a@b.c"
    assert verified_email({"email": "a@b.c", "email_verified": True}, "email") == "a@b.c"
    assert verified_email({"email": "a@b.c", "email_verified": False}, "email") == ""
    assert verified_email({"email": ["a@b.c"]}, "email") == ""
    assert verified_email({"app": {"mail": "x@y.z"}}, "app.mail") == "x@y.z"


# --- principal resolution ------------------------------------------------------------------------------------------


@dataclass
class FakeRepository:
    organizations: dict[str, Organization] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)

    async def get_organization(self, slug: str, *, for_update: bool = False) -> Organization | None:
        return self.organizations.get(slug)

    async def has_members(self, org: str) -> bool:
        return any(m.organization_slug == org for m in self.members)

    async def find_member(self, org: str, subjects: Any) -> Member | None:
        for subject in subjects:
            for member in self.members:
                if member.organization_slug == org and member.subject == subject:
                    return member
        return None


@dataclass
class FakeUnitOfWork:
    identity: FakeRepository

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def directory(repo: FakeRepository, clock: Clock, ttl: float = 5.0) -> MembershipDirectory:
    return MembershipDirectory(lambda: cast(GatewayUnitOfWork, FakeUnitOfWork(repo)), ttl, clock=clock)


def org(slug: str, *, forbid: bool = False) -> Organization:
    return Organization(slug, slug.title(), forbid, NOW, NOW)


def member(org_slug: str, subject: str, *roles: str, groups: tuple[str, ...] = ()) -> Member:
    return Member(identity.new_member_id(), org_slug, subject, roles, "", NOW, NOW, groups)


def jwt_user(org_slug: str, subject: str, *roles: str) -> Principal:
    return Principal(subject=subject, organization_slug=org_slug, roles=frozenset(roles))


async def test_without_a_record_or_members_the_tokens_roles_stay() -> None:
    repo = FakeRepository({"acme": org("acme", forbid=True)})
    found = directory(repo, Clock())
    principal, managed = await found.resolve_user(jwt_user("acme", "u1", "operator"))
    assert (principal.roles, principal.groups, managed) == ({"operator"}, frozenset(), False)
    assert principal.policy == OrganizationPolicy(forbid_self_approval=True)
    nothing, _ = await found.resolve_user(jwt_user("nobody", "u1", "viewer"))
    assert nothing.policy == OrganizationPolicy()
    assert nothing.roles == {"viewer"}


async def test_a_members_roles_groups_and_subject_replace_the_tokens() -> None:
    repo = FakeRepository({"acme": org("acme")}, [member("acme", "carol@example.com", "approver", groups=("legal",))])
    found = directory(repo, Clock())
    by_email, managed = await found.resolve_user(jwt_user("acme", "idp|123", "admin"), "Carol@Example.com")
    assert managed
    assert (by_email.subject, by_email.roles, by_email.groups) == ("carol@example.com", {"approver"}, {"legal"})
    with pytest.raises(NotAMember) as caught:
        await found.resolve_user(jwt_user("acme", "mallory@example.com", "admin"))
    assert caught.value.reason == "NOT_A_MEMBER"


async def test_platform_principals_are_not_looked_up() -> None:
    repo = FakeRepository()
    found = directory(repo, Clock())
    principal = Principal(subject="ops", organization_slug="", roles=frozenset({"admin"}))
    assert await found.resolve_user(principal) == (principal, False)
    assert found.lookups == 0


async def test_service_accounts_keep_their_roles_and_get_the_policy_only() -> None:
    repo = FakeRepository({"acme": org("acme", forbid=True)}, [member("acme", "boss@example.com", "admin")])
    key = Principal(
        subject="apikey:0123456789abcdef",
        organization_slug="acme",
        roles=frozenset({"operator"}),
        kind="service_account",
    )
    resolved = await directory(repo, Clock()).resolve_service_account(key)
    assert (resolved.roles, resolved.groups, resolved.policy.forbid_self_approval) == ({"operator"}, frozenset(), True)


async def test_lookups_are_cached_for_the_ttl_and_dropped_on_a_local_write() -> None:
    repo = FakeRepository({"acme": org("acme")}, [member("acme", "boss@example.com", "admin")])
    clock = Clock()
    found = directory(repo, clock)
    for _ in range(100):
        await found.resolve_user(jwt_user("acme", "boss@example.com"))
    assert found.lookups == 1
    repo.members = [member("acme", "boss@example.com", "viewer")]  # changed on another replica: seen after the TTL
    assert (await found.resolve_user(jwt_user("acme", "boss@example.com")))[0].roles == {"admin"}
    clock.now += 5.1
    assert (await found.resolve_user(jwt_user("acme", "boss@example.com")))[0].roles == {"viewer"}
    assert found.lookups == 2
    repo.members = [member("acme", "boss@example.com", "operator")]  # changed here: seen at once
    found.invalidate("acme")
    assert (await found.resolve_user(jwt_user("acme", "boss@example.com")))[0].roles == {"operator"}
    assert found.lookups == 3


async def test_a_zero_ttl_reads_every_time() -> None:
    repo = FakeRepository({"acme": org("acme")})
    found = directory(repo, Clock(), ttl=0)
    for _ in range(3):
        await found.resolve_user(jwt_user("acme", "u", "viewer"))
    assert found.lookups == 3
