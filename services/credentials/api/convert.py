"""Protobuf ⇄ domain conversion for the vault API. Values only ever flow inwards, except in ResolveCredential."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2

from agentorch.credentials.v1 import credential_pb2 as cpb
from services.common.enums import check_enum
from services.credentials.domain.credential import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    Credential,
    CredentialMetadata,
    CredentialType,
)

_TYPE_TO_PB = {
    CredentialType.API_KEY: cpb.CREDENTIAL_TYPE_API_KEY,
    CredentialType.BEARER_TOKEN: cpb.CREDENTIAL_TYPE_BEARER_TOKEN,
    CredentialType.BASIC_AUTH: cpb.CREDENTIAL_TYPE_BASIC_AUTH,
    CredentialType.GENERIC_SECRET: cpb.CREDENTIAL_TYPE_GENERIC_SECRET,
}
_TYPE_FROM_PB: dict[int, CredentialType] = {int(v): k for k, v in _TYPE_TO_PB.items()}
_ACTION_TO_PB = {a: getattr(cpb, f"AUDIT_ACTION_{a.name}") for a in AuditAction}
_ACTION_FROM_PB: dict[int, AuditAction] = {int(v): k for k, v in _ACTION_TO_PB.items()}
_OUTCOME_TO_PB = {o: getattr(cpb, f"AUDIT_OUTCOME_{o.name}") for o in AuditOutcome}
_OUTCOME_FROM_PB: dict[int, AuditOutcome] = {int(v): k for k, v in _OUTCOME_TO_PB.items()}


def type_to_pb(value: CredentialType) -> cpb.CredentialType:
    return _TYPE_TO_PB[value]


def action_from_pb(value: int) -> AuditAction | None:
    return _ACTION_FROM_PB.get(value)


def outcome_from_pb(value: int) -> AuditOutcome | None:
    return _OUTCOME_FROM_PB.get(value)


def metadata_from_pb(message: cpb.Credential, field: str) -> CredentialMetadata:
    """Unspecified type means generic secret (the default); a number CredentialType does not define is refused
    (INVALID_ARGUMENT at `<field>.type`) rather than stored as something else."""
    check_enum(message.type, cpb.CredentialType.DESCRIPTOR, f"{field}.type")
    return CredentialMetadata(
        description=message.description,
        provider=message.provider,
        type=_TYPE_FROM_PB.get(message.type, CredentialType.GENERIC_SECRET),
        labels=dict(message.labels),
        retained_versions=message.retained_versions,
        allowed_agents=tuple(message.allowed_agents),
        allowed_hosts=tuple(message.allowed_hosts),
    )


def credential_message(credential: Credential, now: dt.datetime) -> cpb.Credential:
    meta = credential.metadata
    message = cpb.Credential(
        name=str(credential.name),
        organization_slug=credential.name.organization_slug,
        alias=credential.name.alias,
        description=meta.description,
        provider=meta.provider,
        type=_TYPE_TO_PB[meta.type],
        labels=dict(meta.labels),
        version=credential.version,
        retained_versions=meta.retained_versions,
        encryption=cpb.EncryptionInfo(
            key_id=credential.key_id, algorithm=credential.algorithm, wrap_time=timestamp(credential.wrapped_at)
        ),
        create_time=timestamp(credential.created_at),
        update_time=timestamp(credential.updated_at),
        rotate_time=timestamp(credential.rotated_at),
        rotation_age_seconds=max(0, int((now - credential.rotated_at).total_seconds())),
        created_by=credential.created_by,
        updated_by=credential.updated_by,
        etag=credential.etag,
        allowed_agents=list(meta.allowed_agents),
        allowed_hosts=list(meta.allowed_hosts),
    )
    if credential.last_used_at is not None:
        message.last_used_time.CopyFrom(timestamp(credential.last_used_at))
    return message


def audit_message(event: AuditEvent) -> cpb.AuditEvent:
    return cpb.AuditEvent(
        name=f"organizations/{event.organization_slug}/auditEvents/{event.sequence}",
        organization_slug=event.organization_slug,
        alias=event.alias,
        version=event.version,
        action=_ACTION_TO_PB[event.action],
        outcome=_OUTCOME_TO_PB[event.outcome],
        reason=event.reason,
        actor=event.actor,
        run=event.run,
        step=event.step,
        agent=event.agent,
        destination=event.destination,
        request_id=event.request_id,
        event_time=timestamp(event.at),
        sequence=event.sequence,
    )


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message
