"""Protobuf ⇄ domain conversion for orchestrations and their versions."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from agentorch.registry.v1 import orchestration_pb2 as opb
from services.registry.api.convert import struct_from_dict, struct_to_dict, timestamp
from services.registry.domain.definition import PromptTemplate
from services.registry.domain.orchestration import (
    Change,
    ChangeKind,
    Orchestration,
    OrchestrationStatus,
    OrchestrationVersion,
    VersionContent,
)

_STATUS_TO_PB = {
    OrchestrationStatus.ACTIVE: opb.ORCHESTRATION_STATUS_ACTIVE,
    OrchestrationStatus.INACTIVE: opb.ORCHESTRATION_STATUS_INACTIVE,
    OrchestrationStatus.ARCHIVED: opb.ORCHESTRATION_STATUS_ARCHIVED,
}
_STATUS_FROM_PB: dict[int, OrchestrationStatus] = {int(v): k for k, v in _STATUS_TO_PB.items()}
_CHANGE_TO_PB = {
    ChangeKind.ADDED: opb.CHANGE_KIND_ADDED,
    ChangeKind.REMOVED: opb.CHANGE_KIND_REMOVED,
    ChangeKind.MODIFIED: opb.CHANGE_KIND_MODIFIED,
}


def status_from_pb(value: int) -> OrchestrationStatus | None:
    return _STATUS_FROM_PB.get(value)


def version_content(message: opb.OrchestrationVersion) -> VersionContent:
    return VersionContent(
        definition=struct_to_dict(message.definition),
        prompt_templates=tuple(PromptTemplate(t.name, t.template, t.description) for t in message.prompt_templates),
        label=message.label,
        change_note=message.change_note,
    )


def orchestration_message(orchestration: Orchestration) -> opb.Orchestration:
    message = opb.Orchestration(
        name=str(orchestration.name),
        organization_slug=orchestration.name.organization_slug,
        agent_slug=orchestration.name.agent_slug,
        slug=orchestration.name.slug,
        display_name=orchestration.display_name,
        description=orchestration.description,
        status=_STATUS_TO_PB[orchestration.status],
        tags=list(orchestration.tags),
        current_version=orchestration.current_version,
        create_time=timestamp(orchestration.created_at),
        update_time=timestamp(orchestration.updated_at),
        created_by=orchestration.created_by,
        updated_by=orchestration.updated_by,
        etag=orchestration.etag,
    )
    if orchestration.deleted_at is not None:
        message.delete_time.CopyFrom(timestamp(orchestration.deleted_at))
    return message


def version_message(version: OrchestrationVersion) -> opb.OrchestrationVersion:
    content = version.content
    return opb.OrchestrationVersion(
        name=version.name,
        version_number=version.number,
        label=content.label,
        definition=struct_from_dict(content.definition),
        prompt_templates=[
            opb.PromptTemplate(name=t.name, template=t.template, description=t.description)
            for t in content.prompt_templates
        ],
        change_note=content.change_note,
        author=version.author,
        source_plan=version.source_plan,
        copied_from=version.copied_from,
        digest=version.digest,
        create_time=timestamp(version.created_at),
        parameters=parameter_messages(content.definition),
    )


def change_message(change: Change) -> opb.VersionChange:
    message = opb.VersionChange(path=change.path, kind=_CHANGE_TO_PB[change.kind])
    if change.kind is not ChangeKind.ADDED:
        message.old_value.CopyFrom(_value(change.old))
    if change.kind is not ChangeKind.REMOVED:
        message.new_value.CopyFrom(_value(change.new))
    return message


def parameter_messages(definition: dict[str, Any]) -> list[opb.ParameterSpec]:
    """The parameters a (validated) definition declares."""
    return [_parameter(p) for p in definition.get("parameters") or [] if isinstance(p, dict)]


def _parameter(declared: dict[str, Any]) -> opb.ParameterSpec:
    spec = opb.ParameterSpec(
        name=str(declared.get("name", "")),
        type=str(declared.get("type", "")),
        required=bool(declared.get("required", False)),
        description=str(declared.get("description", "")),
    )
    if declared.get("default") is not None:
        spec.default_value.CopyFrom(_value(declared["default"]))
    for allowed in declared.get("enum") or ():
        spec.allowed_values.append(_value(allowed))
    return spec


def _value(value: Any) -> struct_pb2.Value:
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    return holder.fields["v"]
