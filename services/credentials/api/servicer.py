"""CredentialsService servicer: proto → use case → proto. No business logic; errors map in the interceptor.

Secret values arrive in request messages and leave only in ResolveCredentialResponse; nothing here logs a message.
"""

from __future__ import annotations

from grpc.aio import ServicerContext

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as pb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as pb_grpc
from services.common.db import utcnow
from services.common.enums import check_enum
from services.common.names import parse_org
from services.common.timestamps import to_datetime
from services.credentials.api.convert import (
    action_from_pb,
    audit_message,
    credential_message,
    metadata_from_pb,
    outcome_from_pb,
    type_to_pb,
)
from services.credentials.app.vault import VaultService
from services.credentials.domain.credential import AuditQuery, SecretValue


class CredentialsServicer(pb_grpc.CredentialsServiceServicer):
    def __init__(self, vault: VaultService) -> None:
        self._vault = vault

    async def CreateCredential(
        self, request: pb.CreateCredentialRequest, context: ServicerContext
    ) -> pb.CreateCredentialResponse:
        credential = await self._vault.create(
            request.parent,
            request.alias,
            metadata_from_pb(request.credential, "credential"),
            SecretValue(request.value),
        )
        return pb.CreateCredentialResponse(credential=credential_message(credential, utcnow()))

    async def GetCredential(
        self, request: pb.GetCredentialRequest, context: ServicerContext
    ) -> pb.GetCredentialResponse:
        credential = await self._vault.get(request.name)
        return pb.GetCredentialResponse(credential=credential_message(credential, utcnow()))

    async def ListCredentials(
        self, request: pb.ListCredentialsRequest, context: ServicerContext
    ) -> pb.ListCredentialsResponse:
        rows, token = await self._vault.list_page(request.parent, request.page_size, request.page_token)
        now = utcnow()
        return pb.ListCredentialsResponse(credentials=[credential_message(c, now) for c in rows], next_page_token=token)

    async def UpdateCredential(
        self, request: pb.UpdateCredentialRequest, context: ServicerContext
    ) -> pb.UpdateCredentialResponse:
        credential = await self._vault.update(
            request.credential.name,
            metadata_from_pb(request.credential, "credential"),
            list(request.update_mask.paths),
            request.etag,
        )
        return pb.UpdateCredentialResponse(credential=credential_message(credential, utcnow()))

    async def RotateCredentialValue(
        self, request: pb.RotateCredentialValueRequest, context: ServicerContext
    ) -> pb.RotateCredentialValueResponse:
        credential = await self._vault.rotate(request.name, SecretValue(request.value), request.etag)
        return pb.RotateCredentialValueResponse(credential=credential_message(credential, utcnow()))

    async def DeleteCredential(
        self, request: pb.DeleteCredentialRequest, context: ServicerContext
    ) -> pb.DeleteCredentialResponse:
        await self._vault.delete(request.name, request.etag)
        return pb.DeleteCredentialResponse()

    async def ResolveCredential(
        self, request: pb.ResolveCredentialRequest, context: ServicerContext
    ) -> pb.ResolveCredentialResponse:
        resolved = await self._vault.resolve(
            request.name, request.run, request.step, request.agent, request.destination
        )
        return pb.ResolveCredentialResponse(
            value=resolved.value.reveal(), version=resolved.version, type=type_to_pb(resolved.type)
        )

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: ServicerContext
    ) -> pb.ListAuditEventsResponse:
        query = AuditQuery(
            organization_slug=parse_org(request.parent),
            alias=request.alias,
            action=action_from_pb(check_enum(request.action, cpb.AuditAction.DESCRIPTOR, "action")),
            outcome=outcome_from_pb(check_enum(request.outcome, cpb.AuditOutcome.DESCRIPTOR, "outcome")),
            start=to_datetime(request, "start_time"),
            end=to_datetime(request, "end_time"),
        )
        events, token = await self._vault.list_audit(query, request.page_size, request.page_token)
        return pb.ListAuditEventsResponse(events=[audit_message(e) for e in events], next_page_token=token)

    async def RewrapCredentials(
        self, request: pb.RewrapCredentialsRequest, context: ServicerContext
    ) -> pb.RewrapCredentialsResponse:
        report = await self._vault.rewrap(request.batch_size)
        return pb.RewrapCredentialsResponse(
            active_key_id=report.active_key_id,
            rewrapped=report.rewrapped,
            remaining=report.remaining,
            failed=report.failed,
        )

    async def GetKeyRingStatus(
        self, request: pb.GetKeyRingStatusRequest, context: ServicerContext
    ) -> pb.GetKeyRingStatusResponse:
        active, key_ids, counts = await self._vault.key_ring_status()
        return pb.GetKeyRingStatusResponse(active_key_id=active, key_ids=key_ids, versions_by_key_id=counts)
