"""Principal resolution against the organization records: who a verified caller is in its organization.

After a JWT or an API key is verified, the gateway looks up the caller's organization:
- no record: the principal stays as the credential says (JWT roles; the key's roles), default policy;
- a record without members (an organization whose members the identity provider manages): the JWT's roles stay,
  groups are empty, and the record's settings travel as the principal's policy;
- a record with members: a JWT caller must be one of them (matched by `sub`, else by the `email` claim; e-mails
  case-insensitively), and its roles and groups are the member's, its subject the member's subject (the token's
  roles are ignored); any other JWT subject is PERMISSION_DENIED (NOT_A_MEMBER).
An API key is a service account of its organization: it keeps its own roles, gets the policy, no groups.

The lookup is cached per replica for `cache_seconds` (keyed by organization and the subjects asked for, negative
answers included), so the hot path does not read the database on every call; a write on this replica drops the
organization's entries at once (`invalidate`), a write on another replica is seen within `cache_seconds`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.errors import NotAMember
from gateway.domain.identity import Membership, normalize_subject
from gateway.store.uow import GatewayUnitOfWork
from services.common.context import Principal

MAX_CACHED = 10_000

_Key = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class _Entry:
    membership: Membership
    fresh_until: float


class MembershipDirectory:
    def __init__(
        self,
        uow_factory: Callable[[], GatewayUnitOfWork],
        cache_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow_factory
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: OrderedDict[_Key, _Entry] = OrderedDict()
        self.lookups = 0  # database reads made (for tests and measurements)

    async def lookup(self, organization_slug: str, subjects: tuple[str, ...] = ()) -> Membership:
        """The organization's record, whether it manages members, and the member with the first of `subjects`
        (normalized here) that is one."""
        wanted = tuple(dict.fromkeys(normalize_subject(s) for s in subjects if s))
        key = (organization_slug, wanted)
        entry = self._cache.get(key)
        if entry is not None and entry.fresh_until > self._clock():
            return entry.membership
        membership = await self._read(organization_slug, wanted)
        if self._ttl > 0:
            self._cache.pop(key, None)
            self._cache[key] = _Entry(membership, self._clock() + self._ttl)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return membership

    def invalidate(self, organization_slug: str) -> None:
        for key in [k for k in self._cache if k[0] == organization_slug]:
            self._cache.pop(key, None)

    async def _read(self, organization_slug: str, subjects: tuple[str, ...]) -> Membership:
        self.lookups += 1
        async with self._uow() as uow:
            repo = uow.identity
            org = await repo.get_organization(organization_slug)
            if org is None:
                return Membership(None, False, None)
            managed = await repo.has_members(organization_slug)
            member = await repo.find_member(organization_slug, subjects) if managed and subjects else None
        return Membership(org, managed, member)

    async def resolve_user(self, principal: Principal, email: str = "") -> tuple[Principal, bool]:
        """A verified JWT's principal as the organization's records say (see the module docstring), and whether
        its roles and groups come from a member record."""
        if not principal.organization_slug:
            return principal, False  # a platform principal: no organization to look up
        membership = await self.lookup(principal.organization_slug, (principal.subject, email))
        if not membership.managed:
            return dataclasses.replace(principal, groups=frozenset(), policy=membership.policy), False
        member = membership.member
        if member is None:
            raise NotAMember(principal.organization_slug)
        resolved = dataclasses.replace(
            principal,
            subject=member.subject,
            roles=frozenset(member.roles),
            groups=frozenset(member.groups),
            policy=membership.policy,
        )
        return resolved, True

    async def resolve_service_account(self, principal: Principal) -> Principal:
        """An API key's principal: its own roles, no groups, the organization's policy."""
        membership = await self.lookup(principal.organization_slug)
        return dataclasses.replace(principal, groups=frozenset(), policy=membership.policy)
