"""Protobuf ⇄ domain conversion for GatewayService."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import timestamp_pb2

from agentorch.gateway.v1 import gateway_service_pb2 as pb
from gateway.app.invoke_service import InvokeResult
from gateway.domain.api_keys import ApiKey
from gateway.domain.invoke import InvokeCommand, PromptTemplate
from services.common.structs import struct_to_dict
from services.common.timestamps import to_datetime


def api_key_message(key: ApiKey) -> pb.ApiKey:
    message = pb.ApiKey(
        name=key.name,
        key_id=key.key_id,
        display_name=key.display_name,
        roles=list(key.roles),
        created_by=key.created_by,
        create_time=timestamp(key.created_at),
    )
    for field, moment in (
        ("expire_time", key.expire_at),
        ("revoke_time", key.revoked_at),
        ("last_used_time", key.last_used_at),
    ):
        if moment is not None:
            getattr(message, field).CopyFrom(timestamp(moment))
    return message


def optional_time(message: pb.ApiKey, field: str) -> dt.datetime | None:
    """An ApiKey time from CreateApiKeyRequest.api_key: None when unset; out of range names `api_key.<field>`."""
    return to_datetime(message, field, field=f"api_key.{field}")


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def invoke_command(request: pb.InvokeRequest) -> InvokeCommand:
    """InvokeRequest → the domain command: documents as dicts (None when absent), enums by name."""

    def document(field: str) -> dict[str, Any] | None:
        if not request.HasField(field):
            return None
        return struct_to_dict(getattr(request, field))

    try:
        mode = pb.AgentMode.Name(request.mode)
    except ValueError:  # a number this gateway does not know
        mode = str(request.mode)
    return InvokeCommand(
        mode=mode,
        parent=request.parent,
        agent_slug=request.agent_slug,
        message=request.message,
        conversation_id=request.conversation_id,
        plan=document("plan"),
        target=request.target,
        definition=document("definition"),
        prompt_inputs=document("prompt_inputs"),
        checkpoint=request.checkpoint,
        decision=request.decision,
        comment=request.comment,
        orchestration_id=request.orchestration_id,
        request_id=request.request_id,
        prompt_templates=tuple(PromptTemplate(t.name, t.template) for t in request.prompt_templates),
        display_name=request.display_name,
        label=request.label,
        credentials=tuple(request.credentials),
    )


def invoke_response(result: InvokeResult) -> pb.InvokeResponse:
    response = pb.InvokeResponse(
        mode=pb.AgentMode.Value(result.mode),
        output=result.output,
        run=result.run,
        open_checkpoints=result.open_checkpoints,
        plan=result.plan,
        orchestration_version=result.orchestration_version,
    )
    response.metadata.update(result.metadata)
    return response
