"""API key repository (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.api_keys import ApiKey, SecretHash
from gateway.store.tables import api_keys
from services.common.db import utc


@dataclass(frozen=True)
class StoredKey:
    key: ApiKey
    secret: SecretHash


class ApiKeyRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, key: ApiKey, secret: SecretHash) -> None:
        await self._conn.execute(
            api_keys.insert().values(
                key_id=key.key_id,
                organization_slug=key.organization_slug,
                display_name=key.display_name,
                roles=list(key.roles),
                secret_hash=secret.value,
                pepper_id=secret.pepper_id,
                created_by=key.created_by,
                created_at=key.created_at,
                expire_at=key.expire_at,
                revoked_at=None,
                revoked_by=None,
                last_used_at=None,
            )
        )

    async def get(self, key_id: str, *, for_update: bool = False) -> StoredKey | None:
        query = sa.select(api_keys).where(api_keys.c.key_id == key_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return StoredKey(_to_key(row._mapping), SecretHash(row._mapping["secret_hash"], row._mapping["pepper_id"]))

    async def list_page(
        self, organization_slug: str, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[ApiKey]:
        """Newest first, by (created_at, key_id) descending."""
        query = sa.select(api_keys).where(api_keys.c.organization_slug == organization_slug)
        if after is not None:
            created, key_id = after
            query = query.where(
                sa.or_(
                    api_keys.c.created_at < created,
                    sa.and_(api_keys.c.created_at == created, api_keys.c.key_id < key_id),
                )
            )
        query = query.order_by(api_keys.c.created_at.desc(), api_keys.c.key_id.desc()).limit(limit)
        return [_to_key(row._mapping) for row in await self._conn.execute(query)]

    async def revoke(self, key_id: str, *, at: dt.datetime, by: str) -> None:
        await self._conn.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )

    async def replace_hash(self, key_id: str, old: SecretHash, new: SecretHash) -> None:
        """Store a key's hash in its current form, unless someone else already did (it is the same key)."""
        await self._conn.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id, api_keys.c.secret_hash == old.value)
            .values(secret_hash=new.value, pepper_id=new.pepper_id)
        )

    async def touch(self, key_id: str, at: dt.datetime) -> None:
        await self._conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=at))


def _optional(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


def _to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        organization_slug=row["organization_slug"],
        display_name=row["display_name"],
        roles=tuple(row["roles"]),
        created_by=row["created_by"],
        created_at=utc(row["created_at"]),
        expire_at=_optional(row["expire_at"]),
        revoked_at=_optional(row["revoked_at"]),
        last_used_at=_optional(row["last_used_at"]),
    )
