"""API key use cases: create (the secret is returned once), list (no secrets), revoke — scoped to the caller's
organization like every service call: another organization's key is NOT_FOUND, another organization's list is
PERMISSION_DENIED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain import api_keys as domain
from gateway.domain.api_keys import ApiKey, PepperRing
from gateway.domain.errors import ApiKeyNotFound
from gateway.store.uow import GatewayUnitOfWork
from services.common import authz, names, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import OrganizationNotFound, PermissionDenied


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # ak_<key_id>_<secret>: shown once, never stored


@dataclass(frozen=True)
class KeyPage:
    keys: list[ApiKey]
    next_page_token: str


class ApiKeyService:
    """New keys are hashed with the active pepper of `peppers`; `on_revoke(key_id)` is told about every
    revocation (the verifier drops its cached entry at once)."""

    def __init__(
        self,
        uow_factory: Callable[[], GatewayUnitOfWork],
        peppers: PepperRing,
        *,
        on_revoke: Callable[[str], None] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._peppers = peppers
        self._on_revoke = on_revoke or (lambda key_id: None)

    async def create(
        self,
        creator: Principal,
        authentication: str,
        parent: str,
        display_name: str,
        roles: list[str],
        expire_at: dt.datetime | None,
    ) -> CreatedKey:
        now = utcnow()
        wanted = domain.validate_new_key(parent, display_name, roles, expire_at, now)
        _authorize_org(creator, wanted.organization_slug, "admin")
        if authentication == "api_key":
            # A leaked key could otherwise mint keys that outlive its own revocation.
            raise PermissionDenied("API keys cannot create API keys; authenticate as a user (JWT)")
        domain.check_role_ceiling(creator, wanted.roles)
        key_id = domain.new_key_id()
        token = domain.format_token(key_id, domain.new_secret())
        key = ApiKey(
            key_id=key_id,
            organization_slug=wanted.organization_slug,
            display_name=wanted.display_name,
            roles=wanted.roles,
            created_by=creator.subject,
            created_at=now,
            expire_at=wanted.expire_at,
        )
        async with self._uow() as uow:
            await uow.api_keys.add(key, self._peppers.hash(token))
            await uow.commit()
        return CreatedKey(key, token)

    async def list_page(self, caller: Principal, parent: str, page_size: int, page_token: str) -> KeyPage:
        org = names.parse_org(parent)
        _authorize_org(caller, org, "admin")
        paging = pagination.Paging(page_size, page_token, pagination.TIME_AND_ID, "api_keys", org)
        async with self._uow() as uow:
            rows = await uow.api_keys.list_page(org, after=paging.after, limit=paging.limit)
        return KeyPage(*paging.page(rows, lambda key: (key.created_at, key.key_id)))

    async def revoke(self, caller: Principal, name: str) -> ApiKey:
        """Idempotent: revoking a revoked key returns it unchanged."""
        org, key_id = domain.parse_key_name(name)
        authz.authorize(caller, org, "admin", hidden=lambda: ApiKeyNotFound(name))
        async with self._uow() as uow:
            stored = await uow.api_keys.get(key_id, for_update=True)
            if stored is None or stored.key.organization_slug != org:
                raise ApiKeyNotFound(name)
            key = stored.key
            if key.revoked_at is None:
                now = utcnow()
                await uow.api_keys.revoke(key_id, at=now, by=caller.subject)
                await uow.commit()
                key = dataclasses.replace(key, revoked_at=now)
        self._on_revoke(key_id)
        return key


def _authorize_org(principal: Principal, org: str, role: str) -> None:
    authz.authorize(principal, org, role, hidden=lambda: OrganizationNotFound(org))
