"""Credential and value-version repository (SQLAlchemy Core on the unit of work's connection)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.common.errors import EtagMismatch
from services.credentials.domain.credential import Credential, CredentialMetadata, CredentialName, CredentialType
from services.credentials.domain.crypto import Sealed
from services.credentials.domain.errors import CredentialAlreadyExists
from services.credentials.store.tables import credential_versions, credentials

c = credentials.c
v = credential_versions.c


@dataclass(frozen=True)
class StoredVersion:
    row_id: str
    name: CredentialName
    version: int
    sealed: Sealed


class CredentialRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, credential: Credential, sealed: Sealed) -> str:
        row_id = str(uuid.uuid4())
        try:
            await self._conn.execute(
                credentials.insert().values(
                    id=row_id,
                    organization_slug=credential.name.organization_slug,
                    alias=credential.name.alias,
                    created_at=credential.created_at,
                    created_by=credential.created_by,
                    **_mutable(credential),
                )
            )
        except IntegrityError:
            raise CredentialAlreadyExists(str(credential.name)) from None
        await self.add_version(row_id, credential.version, sealed, credential.created_at)
        return row_id

    async def get(self, name: CredentialName, *, for_update: bool = False) -> tuple[str, Credential] | None:
        query = _select_current().where(c.organization_slug == name.organization_slug, c.alias == name.alias)
        if for_update:
            query = query.with_for_update(of=credentials)
        row = (await self._conn.execute(query)).first()
        return (row.id, _to_credential(row._mapping)) if row else None

    async def list_page(self, organization_slug: str, *, after_alias: str | None, limit: int) -> list[Credential]:
        query = _select_current().where(c.organization_slug == organization_slug)
        if after_alias is not None:
            query = query.where(c.alias > after_alias)
        rows = await self._conn.execute(query.order_by(c.alias).limit(limit))
        return [_to_credential(r._mapping) for r in rows]

    async def save(self, row_id: str, credential: Credential, *, expected_revision: int) -> None:
        result = await self._conn.execute(
            credentials.update().where(c.id == row_id, c.revision == expected_revision).values(**_mutable(credential))
        )
        if result.rowcount != 1:
            raise EtagMismatch(f"credential {credential.name} has changed since it was read; re-read and retry")

    async def add_version(self, row_id: str, version: int, sealed: Sealed, at: dt.datetime) -> None:
        await self._conn.execute(
            credential_versions.insert().values(
                credential_id=row_id,
                version=version,
                ciphertext=sealed.ciphertext,
                nonce=sealed.nonce,
                wrapped_key=sealed.wrapped_key,
                key_id=sealed.key_id,
                algorithm=sealed.algorithm,
                created_at=at,
                wrapped_at=at,
            )
        )

    async def sealed(self, row_id: str, version: int) -> Sealed | None:
        row = (
            await self._conn.execute(
                sa.select(v.ciphertext, v.nonce, v.wrapped_key, v.key_id, v.algorithm).where(
                    v.credential_id == row_id, v.version == version
                )
            )
        ).first()
        return _to_sealed(row._mapping) if row else None

    async def destroy_versions_before(self, row_id: str, version: int) -> int:
        """Crypto-shred every version older than `version`; returns how many were destroyed."""
        result = await self._conn.execute(
            credential_versions.delete().where(v.credential_id == row_id, v.version < version)
        )
        return int(result.rowcount or 0)

    async def delete(self, row_id: str) -> None:
        await self._conn.execute(credential_versions.delete().where(v.credential_id == row_id))
        await self._conn.execute(credentials.delete().where(c.id == row_id))

    async def touch(self, row_id: str, at: dt.datetime) -> None:
        await self._conn.execute(credentials.update().where(c.id == row_id).values(last_used_at=at))

    async def wrapped_with_other_keys(self, key_id: str, known: list[str], *, limit: int) -> list[StoredVersion]:
        """Versions whose data key is wrapped with another known key, locked for re-wrapping (skipping rows other
        re-wrappers hold, on PostgreSQL)."""
        query = (
            sa.select(
                v.credential_id,
                v.version,
                v.ciphertext,
                v.nonce,
                v.wrapped_key,
                v.key_id,
                v.algorithm,
                c.organization_slug,
                c.alias,
            )
            .select_from(credential_versions.join(credentials, v.credential_id == c.id))
            .where(v.key_id != key_id, v.key_id.in_(known))
            .order_by(v.credential_id, v.version)
            .limit(limit)
            .with_for_update(of=credential_versions, skip_locked=True)
        )
        rows = await self._conn.execute(query)
        return [
            StoredVersion(
                r.credential_id, CredentialName(r.organization_slug, r.alias), r.version, _to_sealed(r._mapping)
            )
            for r in rows
        ]

    async def replace_wrap(self, stored: StoredVersion, sealed: Sealed, at: dt.datetime) -> bool:
        result = await self._conn.execute(
            credential_versions.update()
            .where(
                v.credential_id == stored.row_id,
                v.version == stored.version,
                v.key_id == stored.sealed.key_id,
            )
            .values(wrapped_key=sealed.wrapped_key, key_id=sealed.key_id, wrapped_at=at)
        )
        return result.rowcount == 1

    async def count_by_key_id(self) -> dict[str, int]:
        rows = await self._conn.execute(sa.select(v.key_id, sa.func.count()).group_by(v.key_id))
        return {r[0]: int(r[1]) for r in rows}


def _select_current() -> sa.Select[Any]:
    return sa.select(credentials, v.key_id, v.algorithm, v.wrapped_at).select_from(
        credentials.join(credential_versions, sa.and_(v.credential_id == c.id, v.version == c.current_version))
    )


def _mutable(credential: Credential) -> dict[str, Any]:
    meta = credential.metadata
    return {
        "description": meta.description,
        "provider": meta.provider,
        "type": meta.type.value,
        "labels": dict(meta.labels),
        "retained_versions": meta.retained_versions,
        "allowed_agents": list(meta.allowed_agents),
        "allowed_hosts": list(meta.allowed_hosts),
        "current_version": credential.version,
        "revision": credential.revision,
        "updated_at": credential.updated_at,
        "rotated_at": credential.rotated_at,
        "updated_by": credential.updated_by,
    }


def _to_sealed(row: Any) -> Sealed:
    return Sealed(
        bytes(row["ciphertext"]), bytes(row["nonce"]), bytes(row["wrapped_key"]), row["key_id"], row["algorithm"]
    )


def _to_credential(row: Any) -> Credential:
    return Credential(
        name=CredentialName(row["organization_slug"], row["alias"]),
        metadata=CredentialMetadata(
            description=row["description"],
            provider=row["provider"],
            type=CredentialType(row["type"]),
            labels=dict(row["labels"]),
            retained_versions=row["retained_versions"],
            allowed_agents=tuple(row["allowed_agents"] or ()),
            allowed_hosts=tuple(row["allowed_hosts"] or ()),
        ),
        version=row["current_version"],
        key_id=row["key_id"],
        algorithm=row["algorithm"],
        wrapped_at=utc(row["wrapped_at"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        rotated_at=utc(row["rotated_at"]),
        created_by=row["created_by"],
        updated_by=row["updated_by"],
        revision=row["revision"],
        last_used_at=utc(row["last_used_at"]) if row["last_used_at"] is not None else None,
    )
