"""Vault use cases. Every action is audited: allowed ones in the same transaction as the change, denied or
failed ones in a transaction of their own, so the audit trail survives the error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common import authz, context, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import (
    EtagMismatch,
    FieldViolation,
    OrganizationNotFound,
    PermissionDenied,
    ServiceError,
    ValidationFailed,
)
from services.common.fieldmask import check_update_mask
from services.common.names import InvalidName, parse_org
from services.credentials.config import VaultSettings
from services.credentials.domain.binding import Destination, is_agent_name
from services.credentials.domain.credential import (
    BINDING_FIELDS,
    MUTABLE_FIELDS,
    AuditAction,
    AuditEvent,
    AuditOutcome,
    AuditQuery,
    Credential,
    CredentialMetadata,
    CredentialName,
    CredentialType,
    SecretValue,
    alias_violation,
    describe_binding,
    metadata_violations,
    normalized_binding,
    value_violations,
)
from services.credentials.domain.crypto import Binding, MissingKey, OpenFailed, VaultKeyRing
from services.credentials.domain.errors import (
    CredentialNotBound,
    CredentialNotFound,
    DecryptionFailed,
    KeyNotInRing,
    NotAResolver,
)
from services.credentials.store.uow import VaultUnitOfWork

MAX_REF_LENGTH = 300
DEFAULT_REWRAP_BATCH = 100
MAX_REWRAP_BATCH = 1000


@dataclass(frozen=True)
class Resolved:
    value: SecretValue
    version: int
    type: CredentialType


@dataclass(frozen=True)
class RewrapReport:
    active_key_id: str
    rewrapped: int
    remaining: int
    failed: int


def parse_name(name: str, field: str = "name") -> CredentialName:
    parsed = CredentialName.parse(name, field)
    if isinstance(parsed, FieldViolation):
        raise ValidationFailed([parsed])
    return parsed


class VaultService:
    def __init__(self, uow_factory: Callable[[], VaultUnitOfWork], keys: VaultKeyRing, settings: VaultSettings) -> None:
        self._uow = uow_factory
        self._keys = keys
        self._settings = settings

    # --- admin API --------------------------------------------------------------------------------------------------

    async def create(self, parent: str, alias: str, metadata: CredentialMetadata, value: SecretValue) -> Credential:
        principal = authz.require_principal()
        violations: list[FieldViolation] = []
        org: str | None = None
        try:
            org = parse_org(parent)
        except InvalidName as exc:
            violations.append(exc.violation)
        if (v := alias_violation(alias)) is not None:
            violations.append(v)
        violations += metadata_violations(metadata)
        if org is not None:
            metadata, binding_violations = normalized_binding(metadata, org)
            violations += binding_violations
        violations += value_violations(value.reveal())
        if violations:
            raise ValidationFailed(violations)
        assert org is not None
        name = CredentialName(org, alias)
        self._authorize(principal, name, "admin")
        now = utcnow()
        sealed = self._keys.seal(value.reveal().encode(), Binding(org, alias, 1))
        credential = Credential(
            name=name,
            metadata=metadata,
            version=1,
            key_id=sealed.key_id,
            algorithm=sealed.algorithm,
            wrapped_at=now,
            created_at=now,
            updated_at=now,
            rotated_at=now,
            created_by=principal.subject,
            updated_by=principal.subject,
            revision=1,
        )
        event = self._event(principal, name, 1, AuditAction.CREATE, AuditOutcome.ALLOWED)
        async with self._uow() as uow:
            await uow.credentials.add(credential, sealed)
            await uow.audit.append(dataclasses.replace(event, reason=describe_binding(metadata.binding)))
            await uow.commit()
        return credential

    async def get(self, name: str) -> Credential:
        principal = authz.require_principal()
        parsed = parse_name(name)
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            return (await self._load(uow, parsed))[1]

    async def list_page(self, parent: str, page_size: int, page_token: str) -> tuple[list[Credential], str]:
        principal = authz.require_principal()
        org = parse_org(parent)
        authz.authorize(principal, org, "viewer", hidden=lambda: OrganizationNotFound(org))
        paging = pagination.Paging(page_size, page_token, pagination.TEXT, "credentials", org)
        async with self._uow() as uow:
            rows = await uow.credentials.list_page(org, after_alias=paging.after, limit=paging.limit)
        return paging.page(rows, lambda credential: credential.name.alias)

    async def update(self, name: str, changes: CredentialMetadata, paths: Sequence[str], etag: str) -> Credential:
        principal = authz.require_principal()
        parsed = parse_name(name, "credential.name")
        fields = check_update_mask(paths, MUTABLE_FIELDS)
        self._authorize(principal, parsed, "admin")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, parsed, for_update=True)
            _check_etag(current, etag)
            metadata = dataclasses.replace(current.metadata, **{f: getattr(changes, f) for f in fields})
            metadata, violations = normalized_binding(metadata, parsed.organization_slug)
            violations = metadata_violations(metadata) + violations
            if violations:
                raise ValidationFailed(violations)
            if metadata == current.metadata:
                return current
            now = utcnow()
            updated = dataclasses.replace(
                current, metadata=metadata, revision=current.revision + 1, updated_at=now, updated_by=principal.subject
            )
            await uow.credentials.save(row_id, updated, expected_revision=current.revision)
            if metadata.retained_versions < current.metadata.retained_versions:
                await uow.credentials.destroy_versions_before(row_id, current.version - metadata.retained_versions)
            event = self._event(principal, parsed, current.version, AuditAction.UPDATE, AuditOutcome.ALLOWED)
            reason = f"changed {', '.join(fields)}"
            if set(fields) & set(BINDING_FIELDS):
                reason += f"; now {describe_binding(metadata.binding)}"
            await uow.audit.append(dataclasses.replace(event, reason=reason))
            await uow.commit()
        return updated

    async def rotate(self, name: str, value: SecretValue, etag: str) -> Credential:
        principal = authz.require_principal()
        parsed = parse_name(name)
        violations = value_violations(value.reveal())
        if violations:
            raise ValidationFailed(violations)
        self._authorize(principal, parsed, "admin")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, parsed, for_update=True)
            _check_etag(current, etag)
            version = current.version + 1
            sealed = self._keys.seal(value.reveal().encode(), Binding(parsed.organization_slug, parsed.alias, version))
            now = utcnow()
            rotated = dataclasses.replace(
                current,
                version=version,
                key_id=sealed.key_id,
                algorithm=sealed.algorithm,
                wrapped_at=now,
                rotated_at=now,
                updated_at=now,
                updated_by=principal.subject,
                revision=current.revision + 1,
            )
            await uow.credentials.add_version(row_id, version, sealed, now)
            await uow.credentials.save(row_id, rotated, expected_revision=current.revision)
            await uow.credentials.destroy_versions_before(row_id, version - current.metadata.retained_versions)
            await uow.audit.append(self._event(principal, parsed, version, AuditAction.ROTATE, AuditOutcome.ALLOWED))
            await uow.commit()
        return rotated

    async def delete(self, name: str, etag: str) -> None:
        principal = authz.require_principal()
        parsed = parse_name(name)
        self._authorize(principal, parsed, "admin")
        async with self._uow() as uow:
            row_id, current = await self._load(uow, parsed, for_update=True)
            _check_etag(current, etag)
            await uow.credentials.delete(row_id)
            event = self._event(principal, parsed, current.version, AuditAction.DELETE, AuditOutcome.ALLOWED)
            await uow.audit.append(dataclasses.replace(event, reason="every wrapped data key destroyed"))
            await uow.commit()

    async def list_audit(self, query: AuditQuery, page_size: int, page_token: str) -> tuple[list[AuditEvent], str]:
        principal = authz.require_principal()
        org = query.organization_slug
        authz.authorize(principal, org, "admin", hidden=lambda: OrganizationNotFound(org))
        fingerprint = [org, query.alias, str(query.action), str(query.outcome), str(query.start), str(query.end)]
        paging = pagination.Paging(page_size, page_token, pagination.NUMBER, "audit", *fingerprint)
        async with self._uow() as uow:
            rows = await uow.audit.list_page(query, after=paging.after, limit=paging.limit)
        return paging.page(rows, lambda event: event.sequence)

    # --- internal ---------------------------------------------------------------------------------------------------

    async def resolve(self, name: str, run: str, step: str, agent: str, destination: str) -> Resolved:
        """The value, for a run's step about to call `agent` at `destination` (`host:port`), if the credential's
        binding allows both. Every outcome is audited: denials and failures in a transaction of their own."""
        principal = authz.require_principal()
        parsed = parse_name(name)
        violations = [
            FieldViolation(f, f"is required and at most {MAX_REF_LENGTH} printable characters")
            for f, value in (("run", run), ("step", step))
            if not value or len(value) > MAX_REF_LENGTH or not value.isprintable()
        ]
        if not is_agent_name(agent):
            violations.append(
                FieldViolation("agent", "is required: organizations/{org}/agents/{slug} or agents/{slug}")
            )
        target = Destination.parse(destination)
        if target is None:
            violations.append(FieldViolation("destination", "is required: host:port of the URL to be called"))
        if violations:
            raise ValidationFailed(violations)
        assert target is not None
        audit = self._event(
            principal,
            parsed,
            0,
            AuditAction.RESOLVE,
            AuditOutcome.ALLOWED,
            run=run,
            step=step,
            agent=agent,
            destination=str(target),
        )
        if not self._is_resolver(principal, parsed):
            await self._audit_only(dataclasses.replace(audit, outcome=AuditOutcome.DENIED, reason="not a resolver"))
            raise NotAResolver()
        async with self._uow() as uow:
            found = await uow.credentials.get(parsed, for_update=True)
            failure: ServiceError | None = None
            outcome, plaintext = AuditOutcome.FAILED, b""
            if found is None:
                failure = CredentialNotFound(str(parsed))
            else:
                row_id, credential = found
                audit = dataclasses.replace(audit, version=credential.version)
                refusal = credential.metadata.binding.refusal(agent, target)
                if refusal is not None:
                    outcome = AuditOutcome.DENIED
                    failure = CredentialNotBound(str(parsed), parsed.alias, agent, str(target), refusal)
                else:
                    failure, plaintext = await self._open(uow, row_id, parsed, credential.version)
            if failure is not None:
                await uow.audit.append(dataclasses.replace(audit, outcome=outcome, reason=failure.message))
                await uow.commit()
                raise failure
            await uow.credentials.touch(row_id, utcnow())
            await uow.audit.append(audit)
            await uow.commit()
        return Resolved(SecretValue(plaintext.decode()), credential.version, credential.metadata.type)

    async def _open(
        self, uow: VaultUnitOfWork, row_id: str, name: CredentialName, version: int
    ) -> tuple[ServiceError | None, bytes]:
        """Decrypt the current version: (None, plaintext), or (the failure, b"")."""
        sealed = await uow.credentials.sealed(row_id, version)
        try:
            if sealed is None:
                raise OpenFailed
            return None, self._keys.open(sealed, Binding(name.organization_slug, name.alias, version))
        except MissingKey as exc:
            return KeyNotInRing(exc.key_id, str(name)), b""
        except OpenFailed:
            return DecryptionFailed(str(name), version), b""

    async def rewrap(self, batch_size: int) -> RewrapReport:
        principal = authz.require_principal()
        if not 0 <= batch_size <= MAX_REWRAP_BATCH:
            raise ValidationFailed.single(
                "batch_size", f"must be between 0 (default {DEFAULT_REWRAP_BATCH}) and {MAX_REWRAP_BATCH}"
            )
        self._require_platform_admin(principal)
        active, known = self._keys.active_key_id, self._keys.key_ids
        rewrapped = 0
        async with self._uow() as uow:
            batch = await uow.credentials.wrapped_with_other_keys(
                active, known, limit=batch_size or DEFAULT_REWRAP_BATCH
            )
            now = utcnow()
            for stored in batch:
                binding = Binding(stored.name.organization_slug, stored.name.alias, stored.version)
                event = self._event(principal, stored.name, stored.version, AuditAction.REWRAP, AuditOutcome.ALLOWED)
                try:
                    sealed = self._keys.rewrap(stored.sealed, binding)
                except OpenFailed:
                    reason = f"data key wrapped with {stored.sealed.key_id!r} failed authentication"
                    await uow.audit.append(dataclasses.replace(event, outcome=AuditOutcome.FAILED, reason=reason))
                    continue
                if await uow.credentials.replace_wrap(stored, sealed, now):
                    rewrapped += 1
                    reason = f"{stored.sealed.key_id} -> {sealed.key_id}"
                    await uow.audit.append(dataclasses.replace(event, reason=reason))
            await uow.commit()
        async with self._uow() as uow:
            counts = await uow.credentials.count_by_key_id()
        remaining = sum(n for key_id, n in counts.items() if key_id != active and key_id in known)
        failed = sum(n for key_id, n in counts.items() if key_id not in known)
        return RewrapReport(active, rewrapped, remaining, failed)

    async def key_ring_status(self) -> tuple[str, list[str], dict[str, int]]:
        self._require_platform_admin(authz.require_principal())
        async with self._uow() as uow:
            counts = await uow.credentials.count_by_key_id()
        return self._keys.active_key_id, self._keys.key_ids, counts

    # --- helpers ----------------------------------------------------------------------------------------------------

    def _authorize(self, principal: Principal, name: CredentialName, role: str) -> None:
        authz.authorize(principal, name.organization_slug, role, hidden=lambda: CredentialNotFound(str(name)))

    def _is_resolver(self, principal: Principal, name: CredentialName) -> bool:
        if principal.kind != "service" or principal.subject not in self._settings.resolvers:
            return False
        if self._settings.resolver_key_ids and principal.signed_by not in self._settings.resolver_key_ids:
            return False
        return not principal.organization_slug or principal.organization_slug == name.organization_slug

    def _require_platform_admin(self, principal: Principal) -> None:
        if not authz.is_platform(principal) or not authz.has_role(principal, "admin"):
            raise PermissionDenied("this call needs a platform admin principal")

    async def _load(
        self, uow: VaultUnitOfWork, name: CredentialName, *, for_update: bool = False
    ) -> tuple[str, Credential]:
        found = await uow.credentials.get(name, for_update=for_update)
        if found is None:
            raise CredentialNotFound(str(name))
        return found

    async def _audit_only(self, event: AuditEvent) -> None:
        async with self._uow() as uow:
            await uow.audit.append(event)
            await uow.commit()

    def _event(
        self,
        principal: Principal,
        name: CredentialName,
        version: int,
        action: AuditAction,
        outcome: AuditOutcome,
        **extra: Any,
    ) -> AuditEvent:
        return AuditEvent(
            organization_slug=name.organization_slug,
            alias=name.alias,
            version=version,
            action=action,
            outcome=outcome,
            actor=principal.subject,
            request_id=context.current().request_id,
            at=utcnow(),
            **extra,
        )


def _check_etag(credential: Credential, etag: str) -> None:
    if etag and etag != credential.etag:
        raise EtagMismatch(f"credential {credential.name} has changed since it was read; re-read it and retry")
